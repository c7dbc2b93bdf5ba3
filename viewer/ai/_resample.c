/* The planes of viewer.ai.resample_plan compiled: trilinear() is one output plane of Plan
 * (intensities onto a model's grid), nearest() one stack slice of BackPlan (labels back onto
 * the series). Each does the numpy code's float64 index arithmetic and float32 interpolation
 * operation for operation (Plan._part and _trilinear, BackPlan.plane), so the values are the
 * same bit for bit, in one pass over the plane instead of numpy's ~50, without the GIL.
 *
 * Built as an optional extension (pyproject.toml): where it is missing the numpy code runs.
 * Compiled with -ffp-contract=off: a fused multiply-add would round once where numpy rounds
 * twice. Arrays are indexed [k, j, i]; "x, y, z" are the source's i, j, k axes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

/* np.interp(x, xp, arange(n)) for ascending xp: numpy's own formula and edge cases
 * (numpy/_core/src/multiarray/compiled_base.c, arr_interp). ``*guess``: where the last search
 * ended (neighbouring voxels lie in the same or the next interval), as numpy's
 * binary_search_with_guess; any start gives the same interval. */
static double interp_index(double x, const double *xp, Py_ssize_t n, Py_ssize_t *guess)
{
    if (x < xp[0])
        return 0.0;
    if (x > xp[n - 1])
        return (double)(n - 1);
    Py_ssize_t j = *guess; /* the last j with xp[j] <= x */
    if (!(xp[j] <= x && (j == n - 1 || x < xp[j + 1]))) {
        Py_ssize_t lo = 0, hi = n - 1;
        while (lo < hi) {
            Py_ssize_t mid = (lo + hi + 1) / 2;
            if (xp[mid] <= x)
                lo = mid;
            else
                hi = mid - 1;
        }
        j = lo;
    }
    *guess = j;
    if (j == n - 1 || xp[j] == x)
        return (double)j;
    const double slope = ((double)(j + 1) - (double)j) / (xp[j + 1] - xp[j]);
    return slope * (x - xp[j]) + (double)j;
}

/* One axis of a source position: clipped into the volume (np.maximum, np.minimum), its
 * lower corner (at most size - 2) and the fraction from it (float64 difference, then
 * float32), as _trilinear computes them. */
static inline Py_ssize_t corner(double q, Py_ssize_t size, float *frac)
{
    double pos = q >= 0.0 ? q : 0.0;
    const double top = (double)(size - 1);
    pos = pos <= top ? pos : top;
    double fl = floor(pos);
    const double lim = (double)(size > 2 ? size - 2 : 0);
    fl = fl <= lim ? fl : lim;
    *frac = (float)(pos - fl);
    return (Py_ssize_t)fl;
}

static inline float lerp(float lo, float hi, float f)
{
    hi -= lo;
    hi *= f;
    return lo + hi;
}

static PyObject *trilinear(PyObject *self, PyObject *args)
{
    Py_buffer src, base, out, real;
    Py_ssize_t ni, nj, nk, start, stop;
    double sh[3], lo[3], hi[3], step_mm;
    if (!PyArg_ParseTuple(args, "y*(nnn)y*nn(ddd)(ddd)(ddd)y*dw*", &src, &ni, &nj, &nk,
                          &base, &start, &stop, &sh[0], &sh[1], &sh[2], &lo[0], &lo[1],
                          &lo[2], &hi[0], &hi[1], &hi[2], &real, &step_mm, &out))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = out.len / (Py_ssize_t)sizeof(float);
    const Py_ssize_t total = ni * nj * nk;
    if (ni < 1 || nj < 1 || nk < 1 || src.len != total * (Py_ssize_t)sizeof(float)
        || base.len != 3 * n * (Py_ssize_t)sizeof(double) || start < 0 || stop > n
        || (real.len != 0 && real.len != nk * (Py_ssize_t)sizeof(double))) {
        PyErr_SetString(PyExc_ValueError, "trilinear: arrays of the wrong size");
        goto done;
    }
    const float *v = src.buf;
    const double *bx = base.buf, *by = bx + n, *bz = by + n;
    const double *xp = real.len ? real.buf : NULL;
    float *o = out.buf;
    const Py_ssize_t sx = ni > 1 ? 1 : 0, sy = nj > 1 ? ni : 0, sz = nk > 1 ? ni * nj : 0;
    float mn = 0.0f, mx = 0.0f;
    int nan = 0;
    Py_ssize_t guess = 0;
    Py_BEGIN_ALLOW_THREADS
    /* In blocks: first each voxel's corner and fractions (float64 index arithmetic, branchy),
     * then the gathers and the interpolation in a short loop whose loads, independent from
     * voxel to voxel, are many in flight at once (what numpy's passes get, in one pass). */
    enum { BLOCK = 256 };
    Py_ssize_t at_b[BLOCK], p_b[BLOCK];
    float fx_b[BLOCK], fy_b[BLOCK], fz_b[BLOCK];
    for (Py_ssize_t s0 = start; s0 < stop; s0 += BLOCK) {
        const Py_ssize_t s1 = s0 + BLOCK < stop ? s0 + BLOCK : stop;
        int m = 0;
        for (Py_ssize_t p = s0; p < s1; ++p) {
            const double x = bx[p] + sh[0], y = by[p] + sh[1];
            double z = bz[p] + sh[2];
            if (xp)
                z *= step_mm; /* mm along the normal, tested as such */
            if (!(x >= lo[0] && x <= hi[0] && y >= lo[1] && y <= hi[1] && z >= lo[2]
                  && z <= hi[2]))
                continue; /* outside the source: left as it is */
            if (xp)
                z = interp_index(z, xp, nk, &guess); /* the real slice index: a gap bridged */
            Py_ssize_t at = corner(x, ni, &fx_b[m]) + corner(y, nj, &fy_b[m]) * ni
                            + corner(z, nk, &fz_b[m]) * ni * nj;
            if (at < 0 || at + sx + sy + sz >= total)
                at = at < 0 ? 0 : total - 1 - sx - sy - sz; /* never: the corners are inside */
            at_b[m] = at;
            p_b[m++] = p;
        }
        for (int q = 0; q < m; ++q) {
            const float *c = v + at_b[q];
            const float fx = fx_b[q], fy = fy_b[q];
            const float a = lerp(lerp(c[0], c[sx], fx), lerp(c[sy], c[sy + sx], fx), fy);
            const float b = lerp(lerp(c[sz], c[sz + sx], fx),
                                 lerp(c[sz + sy], c[sz + sy + sx], fx), fy);
            o[p_b[q]] = lerp(a, b, fz_b[q]);
        }
    }
    /* The plane's minimum and maximum, as ndarray.min()/max() (NaN spreads); four lanes,
     * so that each comparison does not wait for the one before. */
    if (n > 0) {
        float lo4[4], hi4[4];
        for (int l = 0; l < 4; ++l)
            lo4[l] = hi4[l] = o[0];
        Py_ssize_t p = 0;
        for (; p + 4 <= n; p += 4)
            for (int l = 0; l < 4; ++l) {
                const float f = o[p + l];
                nan |= f != f;
                lo4[l] = f < lo4[l] ? f : lo4[l];
                hi4[l] = f > hi4[l] ? f : hi4[l];
            }
        for (; p < n; ++p) {
            const float f = o[p];
            nan |= f != f;
            lo4[0] = f < lo4[0] ? f : lo4[0];
            hi4[0] = f > hi4[0] ? f : hi4[0];
        }
        mn = lo4[0], mx = hi4[0];
        for (int l = 1; l < 4; ++l) {
            mn = lo4[l] < mn ? lo4[l] : mn;
            mx = hi4[l] > mx ? hi4[l] : mx;
        }
    }
    Py_END_ALLOW_THREADS
    if (nan)
        result = Py_BuildValue("(dd)", (double)NAN, (double)NAN);
    else
        result = Py_BuildValue("(dd)", (double)mn, (double)mx);
done:
    PyBuffer_Release(&src);
    PyBuffer_Release(&base);
    PyBuffer_Release(&real);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *nearest(PyObject *self, PyObject *args)
{
    Py_buffer labels, base, out, counts;
    Py_ssize_t st[3];
    double top[3], sh[3];
    if (!PyArg_ParseTuple(args, "y*(nnn)(ddd)y*(ddd)w*w*", &labels, &st[0], &st[1], &st[2],
                          &top[0], &top[1], &top[2], &base, &sh[0], &sh[1], &sh[2], &out,
                          &counts))
        return NULL;
    PyObject *result = NULL;
    const Py_ssize_t n = out.len;
    if (base.len != 3 * n * (Py_ssize_t)sizeof(double)
        || counts.len != 256 * (Py_ssize_t)sizeof(long long)) {
        PyErr_SetString(PyExc_ValueError, "nearest: arrays of the wrong size");
        goto done;
    }
    const unsigned char *lab = labels.buf;
    const double *bx = base.buf, *by = bx + n, *bz = by + n;
    unsigned char *o = out.buf;
    long long *count = counts.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t p = 0; p < n; ++p) {
        /* whole grid indices (np.rint: half to even), compared as the integers they are */
        const double x = rint(bx[p] + sh[0]), y = rint(by[p] + sh[1]), z = rint(bz[p] + sh[2]);
        unsigned char v = 0; /* 0 outside the grid */
        if (x >= 0.0 && x <= top[0] && y >= 0.0 && y <= top[1] && z >= 0.0 && z <= top[2]) {
            const Py_ssize_t at = (Py_ssize_t)x * st[0] + (Py_ssize_t)y * st[1]
                                  + (Py_ssize_t)z * st[2];
            v = at >= 0 && at < labels.len ? lab[at] : 0; /* always: the strides fit */
        }
        o[p] = v;
        ++count[v];
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&labels);
    PyBuffer_Release(&base);
    PyBuffer_Release(&out);
    PyBuffer_Release(&counts);
    return result;
}

static PyMethodDef methods[] = {
    {"trilinear", trilinear, METH_VARARGS,
     "trilinear(src, (ni, nj, nk), base, start, stop, shift, lo, hi, real_mm, step_mm, out) "
     "-> (min, max): Plan.plane's voxels start..stop into out (float32)."},
    {"nearest", nearest, METH_VARARGS,
     "nearest(labels, strides, top, base, shift, out, counts): BackPlan.plane's labels into "
     "out (uint8), their voxels per value added to counts (int64, 256)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_resample",
                                    "viewer.ai.resample_plan's planes compiled: the same "
                                    "values bit for bit.", -1, methods};

PyMODINIT_FUNC PyInit__resample(void) { return PyModule_Create(&module); }
