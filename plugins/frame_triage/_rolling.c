/*
 * The per-frame passes of a capture's metrics, compiled: a 10-minute 240 fps capture has 142k
 * rolling-FPS samples, and a Python loop over them costs more than reading the whole log.
 *
 * rolling_counts: the labops C++ two-pointer scan (src/metrics/fps.cpp) over sorted int64
 *   timestamps: per frame, its window end in epoch ms (division truncating toward zero, as
 *   duration_cast does) and the frames in [end - window, end] up to and including itself.
 * interval_histogram: how many consecutive pairs are (b - a) // unit apart, for the interval and
 *   jitter statistics (which stay in Python: their float sums follow the C++ order exactly).
 * rolling_rows: head + decimal(end) + tails[count] per sample, joined by sep: the rows of
 *   metrics.json and metrics.csv, with every count-dependent text formatted once in Python.
 *
 * tests/frame_triage/test_triage_rolling.py holds each against a plain-Python statement of the
 * same rule (hypothesis), and test_triage_metrics.py the whole metrics against the spec's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define NS_PER_MS 1000000
/* "-9223372036854775808" */
#define INT64_DIGITS 20

/* A list item as an int64; -1 with an exception set when it is not an int or out of range. */
static int item_int64(PyObject *item, const char *what, int64_t *out)
{
    if (!PyLong_Check(item) || PyBool_Check(item)) {
        PyErr_Format(PyExc_TypeError, "%s must be ints, got %.100s", what, Py_TYPE(item)->tp_name);
        return -1;
    }
    long long value = PyLong_AsLongLong(item);
    if (value == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_OverflowError, "%s must fit in 64 bits (int64 nanoseconds, as in the C++)", what);
        return -1;
    }
    *out = (int64_t)value;
    return 0;
}

/* The list's items as a new int64 array (PyMem_Free it), checked ascending; NULL with an
 * exception set otherwise. */
static int64_t *ascending_int64(PyObject *list, const char *fn)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    int64_t *ts = PyMem_Malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (ts == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (item_int64(PyList_GET_ITEM(list, i), "timestamps", &ts[i]) != 0) {
            goto fail;
        }
        if (i > 0 && ts[i] < ts[i - 1]) {
            PyErr_Format(PyExc_ValueError, "%s() timestamps must be ascending", fn);
            goto fail;
        }
    }
    return ts;
fail:
    PyMem_Free(ts);
    return NULL;
}

PyDoc_STRVAR(rolling_counts_doc,
"rolling_counts($module, sorted_ts_ns, window_ns, /)\n"
"--\n"
"\n"
"(window_end_ms, frames_in_window) tuples for ascending int64 timestamps and a positive window.");

static PyObject *rolling_counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyList_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "rolling_counts() takes a list of ints and an int");
        return NULL;
    }
    PyObject *list = args[0];
    PyObject *zero = PyLong_FromLong(0);
    int not_positive = zero == NULL ? -1 : PyObject_RichCompareBool(args[1], zero, Py_LE);
    Py_XDECREF(zero);
    if (not_positive != 0) { /* -1: an error is set */
        if (not_positive > 0) {
            PyErr_SetString(PyExc_ValueError, "rolling_counts() window must be positive");
        }
        return NULL;
    }
    /* Two int64 timestamps are at most 2**64 - 1 apart, so a longer window counts the same. */
    uint64_t window = (uint64_t)PyLong_AsUnsignedLongLong(args[1]);
    if (window == (uint64_t)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        window = UINT64_MAX;
    }
    Py_ssize_t n = PyList_GET_SIZE(list);
    int64_t *ts = ascending_int64(list, "rolling_counts");
    if (ts == NULL) {
        return NULL;
    }
    PyObject *ends = NULL, *counts = NULL, *result = NULL;
    ends = PyTuple_New(n);
    counts = PyTuple_New(n);
    if (ends == NULL || counts == NULL) {
        goto done;
    }
    Py_ssize_t left = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        /* ts[left] < ts[i] - window, as ts[i] - ts[left] > window: the unsigned difference of
         * ascending int64s is exact, so no sum can overflow. Never passes i (0 > window is false). */
        while ((uint64_t)ts[i] - (uint64_t)ts[left] > window) {
            left++;
        }
        PyObject *end = PyLong_FromLongLong(ts[i] / NS_PER_MS); /* C division truncates toward 0 */
        PyObject *count = PyLong_FromSsize_t(i + 1 - left);
        if (end == NULL || count == NULL) {
            Py_XDECREF(end);
            Py_XDECREF(count);
            goto done;
        }
        PyTuple_SET_ITEM(ends, i, end);
        PyTuple_SET_ITEM(counts, i, count);
    }
    result = PyTuple_Pack(2, ends, counts);
done:
    Py_XDECREF(ends);
    Py_XDECREF(counts);
    PyMem_Free(ts);
    return result;
}

PyDoc_STRVAR(interval_histogram_doc,
"interval_histogram($module, sorted_ts_ns, unit_ns, /)\n"
"--\n"
"\n"
"{(b - a) // unit_ns: how many} over consecutive pairs of ascending int64 timestamps.");

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Add (value, run length) to the histogram; -1 on error. */
static int histogram_add(PyObject *histogram, uint64_t value, Py_ssize_t n)
{
    PyObject *key = PyLong_FromUnsignedLongLong(value);
    PyObject *count = PyLong_FromSsize_t(n);
    int rc = (key == NULL || count == NULL) ? -1 : PyDict_SetItem(histogram, key, count);
    Py_XDECREF(key);
    Py_XDECREF(count);
    return rc;
}

static PyObject *interval_histogram(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 2 || !PyList_Check(args[0]) || !PyLong_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "interval_histogram() takes a list of ints and an int");
        return NULL;
    }
    long long unit = PyLong_AsLongLong(args[1]);
    if (unit <= 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "interval_histogram() unit must be positive");
        }
        return NULL;
    }
    PyObject *list = args[0];
    Py_ssize_t n = PyList_GET_SIZE(list);
    Py_ssize_t m = n > 1 ? n - 1 : 0;
    int64_t *ts = ascending_int64(list, "interval_histogram");
    if (ts == NULL) {
        return NULL;
    }
    uint64_t *deltas = PyMem_Malloc((size_t)(m > 0 ? m : 1) * sizeof(uint64_t));
    uint64_t *runs = NULL;
    PyObject *histogram = NULL;
    if (deltas == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    uint64_t lo = UINT64_MAX, hi = 0;
    for (Py_ssize_t i = 0; i < m; i++) {
        /* Exact: the unsigned difference of ascending int64s, floor-divided (it is >= 0). */
        uint64_t d = ((uint64_t)ts[i + 1] - (uint64_t)ts[i]) / (uint64_t)unit;
        deltas[i] = d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    histogram = PyDict_New();
    if (histogram == NULL || m == 0) {
        goto done;
    }
    /* A capture's intervals cluster: count them in an array over [lo, hi] when that is small,
     * else sort and count runs. Either way the dict is filled in ascending order. */
    if (hi - lo < (uint64_t)m + 4096) {
        size_t span = (size_t)(hi - lo) + 1;
        runs = PyMem_Calloc(span, sizeof(uint64_t));
        if (runs == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t i = 0; i < m; i++) {
            runs[deltas[i] - lo]++;
        }
        for (size_t k = 0; k < span; k++) {
            if (runs[k] != 0 && histogram_add(histogram, lo + k, (Py_ssize_t)runs[k]) != 0) {
                goto fail;
            }
        }
    } else {
        qsort(deltas, (size_t)m, sizeof(uint64_t), compare_u64);
        Py_ssize_t start = 0;
        for (Py_ssize_t i = 1; i <= m; i++) {
            if (i == m || deltas[i] != deltas[start]) {
                if (histogram_add(histogram, deltas[start], i - start) != 0) {
                    goto fail;
                }
                start = i;
            }
        }
    }
    goto done;
fail:
    Py_CLEAR(histogram);
done:
    PyMem_Free(runs);
    PyMem_Free(deltas);
    PyMem_Free(ts);
    return histogram;
}

PyDoc_STRVAR(rolling_rows_doc,
"rolling_rows($module, head, ends, counts, tails, sep, /)\n"
"--\n"
"\n"
"sep.join(head + str(end).encode() + tails[count] for end, count in zip(ends, counts)).");

static int bytes_arg(PyObject *obj, const char *name)
{
    if (!PyBytes_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "rolling_rows() %s must be bytes", name);
        return -1;
    }
    return 0;
}

static PyObject *rolling_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_Format(PyExc_TypeError, "rolling_rows() takes 5 positional arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *head = args[0], *ends = args[1], *counts = args[2], *tails = args[3], *sep = args[4];
    if (bytes_arg(head, "head") || bytes_arg(sep, "sep")) {
        return NULL;
    }
    if (!PyTuple_Check(ends) || !PyTuple_Check(counts) || !PyDict_Check(tails)) {
        PyErr_SetString(PyExc_TypeError, "rolling_rows() takes tuples of ends and counts and a dict of tails");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(ends);
    if (PyTuple_GET_SIZE(counts) != n) {
        PyErr_SetString(PyExc_ValueError, "rolling_rows() ends and counts differ in length");
        return NULL;
    }
    Py_ssize_t longest_tail = 0, pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(tails, &pos, &key, &value)) {
        if (bytes_arg(value, "tails' values")) {
            return NULL;
        }
        if (PyBytes_GET_SIZE(value) > longest_tail) {
            longest_tail = PyBytes_GET_SIZE(value);
        }
    }
    Py_ssize_t head_len = PyBytes_GET_SIZE(head), sep_len = PyBytes_GET_SIZE(sep);
    Py_ssize_t row_max = head_len + INT64_DIGITS + longest_tail + sep_len;
    if (n > 0 && row_max > PY_SSIZE_T_MAX / n) {
        return PyErr_NoMemory();
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n * row_max);
    if (out == NULL) {
        return NULL;
    }
    char *w = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t end;
        if (item_int64(PyTuple_GET_ITEM(ends, i), "window ends", &end) != 0) {
            goto fail;
        }
        PyObject *tail = PyDict_GetItemWithError(tails, PyTuple_GET_ITEM(counts, i));
        if (tail == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetObject(PyExc_KeyError, PyTuple_GET_ITEM(counts, i));
            }
            goto fail;
        }
        /* The lookup may run Python code (a key's __eq__) that changes tails: check again what
         * the buffer was sized for. */
        if (!PyBytes_Check(tail) || PyBytes_GET_SIZE(tail) > longest_tail) {
            PyErr_SetString(PyExc_RuntimeError, "rolling_rows() tails changed during the call");
            goto fail;
        }
        if (i > 0) {
            memcpy(w, PyBytes_AS_STRING(sep), (size_t)sep_len);
            w += sep_len;
        }
        memcpy(w, PyBytes_AS_STRING(head), (size_t)head_len);
        w += head_len;
        w += snprintf(w, INT64_DIGITS + 1, "%lld", (long long)end);
        memcpy(w, PyBytes_AS_STRING(tail), (size_t)PyBytes_GET_SIZE(tail));
        w += PyBytes_GET_SIZE(tail);
    }
    if (_PyBytes_Resize(&out, w - PyBytes_AS_STRING(out)) != 0) {
        return NULL;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

static PyMethodDef rolling_methods[] = {
    {"rolling_counts", (PyCFunction)(void (*)(void))rolling_counts, METH_FASTCALL, rolling_counts_doc},
    {"interval_histogram", (PyCFunction)(void (*)(void))interval_histogram, METH_FASTCALL,
     interval_histogram_doc},
    {"rolling_rows", (PyCFunction)(void (*)(void))rolling_rows, METH_FASTCALL, rolling_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef rolling_module = {
    PyModuleDef_HEAD_INIT,
    "_rolling",
    "Compiled per-frame passes of the triage metrics (see vrx_plugins.frame_triage.metrics).",
    0,
    rolling_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__rolling(void)
{
    return PyModuleDef_Init(&rolling_module);
}
