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
 * (numpy/_core/src/multiarray/compiled_base.c, arr_interp). */
static double interp_index(double x, const double *xp, Py_ssize_t n)
{
    if (x < xp[0])
        return 0.0;
    if (x > xp[n - 1])
        return (double)(n - 1);
    Py_ssize_t lo = 0, hi = n - 1; /* the last j with xp[j] <= x */
    while (lo < hi) {
        Py_ssize_t mid = (lo + hi + 1) / 2;
        if (xp[mid] <= x)
            lo = mid;
        else
            hi = mid - 1;
    }
    if (lo == n - 1 || xp[lo] == x)
        return (double)lo;
    const double slope = ((double)(lo + 1) - (double)lo) / (xp[lo + 1] - xp[lo]);
    return slope * (x - xp[lo]) + (double)lo;
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
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t p = start; p < stop; ++p) {
        const double x = bx[p] + sh[0], y = by[p] + sh[1];
        double z = bz[p] + sh[2];
        if (xp)
            z *= step_mm; /* mm along the normal, tested as such */
        if (!(x >= lo[0] && x <= hi[0] && y >= lo[1] && y <= hi[1] && z >= lo[2]
              && z <= hi[2]))
            continue; /* outside the source: left as it is */
        if (xp)
            z = interp_index(z, xp, nk); /* the real slice index: a missing one bridged */
        float fx, fy, fz;
        Py_ssize_t at = corner(x, ni, &fx) + corner(y, nj, &fy) * ni
                        + corner(z, nk, &fz) * ni * nj;
        if (at < 0 || at + sx + sy + sz >= total)
            at = at < 0 ? 0 : total - 1 - sx - sy - sz; /* never: the corners are inside */
        const float *c = v + at;
        const float a = lerp(lerp(c[0], c[sx], fx), lerp(c[sy], c[sy + sx], fx), fy);
        const float b = lerp(lerp(c[sz], c[sz + sx], fx),
                             lerp(c[sz + sy], c[sz + sy + sx], fx), fy);
        o[p] = lerp(a, b, fz);
    }
    /* The plane's minimum and maximum, as ndarray.min()/max() (NaN spreads). */
    if (n > 0) {
        mn = mx = o[0];
        for (Py_ssize_t p = 0; p < n; ++p) {
            const float f = o[p];
            if (f != f)
                nan = 1;
            else {
                mn = f < mn ? f : mn;
                mx = f > mx ? f : mx;
            }
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
