"""Skip reasons that the end-of-run summary counts, one line per kind (see conftest.py's
``pytest_terminal_summary``): a green run says what it did not test, and why."""

NO_DATA = "test data not found: ../shared/data is not beside this checkout (README ▸ Test data)"
NO_CONVERT = "conversion checks are opt-in: scripts/test --convert"
NO_PACKAGE = "the packaged-app build is opt-in: scripts/test --package"

SUMMARY = {
    NO_DATA: "test data not found; see README ▸ Test data",
    NO_CONVERT: "conversion tools (torch) not installed; run scripts/test --convert",
    NO_PACKAGE: "packaged app not built; run scripts/test --package",
}
