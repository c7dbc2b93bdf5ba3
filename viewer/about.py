"""What Help ▸ About says: version, the research-use notice, and the licence and credit of
every bundled model and data set (no Qt; the window renders it)."""

from __future__ import annotations

from html import escape

from viewer import __version__

NOTICE = "Research use — not a diagnosis."

DATA_CREDITS = (
    ("Sample study (resources/sample)",
     "Brain MR of a test volunteer, Boston Children's Hospital (FNNDSC), from the "
     "FNNDSC/data repository; re-encoded losslessly to JPEG-LS.", "Apache-2.0"),
)


def model_credits() -> list[tuple[str, str, str, str]]:
    """(title, source, licence, citation) of every model radviewer can find."""
    from viewer.ai.registry import discover

    out = []
    for e in discover(verify=False):
        m = e.manifest
        where = "" if e.origin == "bundled" else f" [{e.origin}]"
        out.append((f"{m.name} {m.version}{where}", m.source, m.licence, m.citation))
    return out


LOOKING = "Looking for models…"


def about_html(credits: list[tuple[str, str, str, str]] | None = None, *,
               loading: bool = False) -> str:
    """The About text as simple HTML; ``credits`` from :func:`model_credits` (found now when
    None), or ``loading`` for a placeholder while the window finds them in the background."""
    rows = [f"<h3>radviewer {escape(__version__)}</h3>",
            "<p>An open-source radiology viewer with AI assist.</p>",
            f"<p><b style='color:#c07010'>{escape(NOTICE)}</b> AI results are decision "
            "support for research; each names its model, version and series.</p>",
            "<h4>Models</h4><ul>"]
    if loading:
        rows.append(f"<li>{LOOKING}</li>")
    for title, source, licence, citation in ([] if loading else
                                             credits if credits is not None else
                                             model_credits()):
        cite = f"<br><i>Cite:</i> {escape(citation)}" if citation else ""
        rows.append(f"<li><b>{escape(title)}</b> — licence: {escape(licence)}<br>"
                    f"{escape(source)}{cite}</li>")
    rows.append("</ul><h4>Data</h4><ul>")
    for title, text, licence in DATA_CREDITS:
        rows.append(f"<li><b>{escape(title)}</b> — licence: {escape(licence)}<br>"
                    f"{escape(text)}</li>")
    rows.append("</ul><h4>Software</h4><p>radviewer is licensed under Apache-2.0. It uses Qt "
                "through PySide6 (LGPL-3.0), pydicom, highdicom, numpy, onnxruntime, "
                "pyqtgraph, Pillow, GDCM, pylibjpeg (libjpeg, OpenJPEG, RLE) and CharLS "
                "(pyjpegls), each under its own licence.")
    folder = libraries_licence_folder()
    if folder:
        rows.append(f" Their licence texts are in {escape(folder)} (the *.dist-info "
                    "folders).")
    rows.append("</p>")
    return "\n".join(rows)


def libraries_licence_folder() -> str | None:
    """In the packaged app, the folder holding the bundled libraries' licence texts."""
    import sys

    return getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
