/*
 * The reader's batch path, the per-line part: how far a run of plain lines goes.
 *
 * In Python the same check took a regex over the run (the envelope and the CRC suffix's form),
 * a salted zlib.crc32 per line and a comparison of the hex digits: about half of read_events'
 * time. Here it is one pass over the bytes, with zlib's own crc32, and the seq of each line is
 * compared with the expected one on the way. It accepts exactly the lines the Python check
 * accepted (tests/log/test_scan.py holds the two side by side); the first line it does not
 * accept ends the run, and the reader's per-line path reads that line and reports any problem.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

#define SUFFIX_LEN 18 /* ,"crc":"XXXXXXXX"} */
#define MAX_SEQ_DIGITS 19
#define MAX_T_TAIL 30
#define MAX_V_DIGITS 6
#define MAX_TAG_TAIL 127

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_lower(unsigned char c) { return c >= 'a' && c <= 'z'; }

static int expect(const unsigned char **p, const unsigned char *end, const char *lit, size_t n)
{
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0) {
        return 0;
    }
    *p += n;
    return 1;
}

/* seq: 0|[1-9][0-9]{0,18}, equal to `want`. */
static int parse_seq(const unsigned char **p, const unsigned char *end, unsigned long long want)
{
    const unsigned char *q = *p;
    if (q >= end || !is_digit(*q)) {
        return 0;
    }
    if (*q == '0') {
        *p = q + 1;
        return want == 0;
    }
    unsigned long long seq = 0;
    int n = 0;
    while (q < end && is_digit(*q)) {
        if (++n > MAX_SEQ_DIGITS) {
            return 0;
        }
        unsigned long long digit = (unsigned long long)(*q++ - '0');
        if (seq > (ULLONG_MAX - digit) / 10) {
            return 0;
        }
        seq = seq * 10 + digit;
    }
    *p = q;
    return seq == want;
}

/* t: -?[0-9][0-9.eE+-]{0,30} */
static int skip_t(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *q = *p;
    if (q < end && *q == '-') {
        q++;
    }
    if (q >= end || !is_digit(*q)) {
        return 0;
    }
    q++;
    int n = 0;
    while (q < end && (is_digit(*q) || *q == '.' || *q == 'e' || *q == 'E' || *q == '+' || *q == '-')) {
        if (++n > MAX_T_TAIL) {
            return 0;
        }
        q++;
    }
    *p = q;
    return 1;
}

/* The key V,"type":"TAG (V: [1-9][0-9]{0,5}, TAG: [a-z][a-z0-9_.]{0,127}); *p at V. */
static int skip_key(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *q = *p;
    if (q >= end || *q < '1' || *q > '9') {
        return 0;
    }
    q++;
    int n = 0;
    while (q < end && is_digit(*q)) {
        if (++n >= MAX_V_DIGITS) {
            return 0;
        }
        q++;
    }
    if (!expect(&q, end, ",\"type\":\"", 9) || q >= end || !is_lower(*q)) {
        return 0;
    }
    q++;
    n = 0;
    while (q < end && (is_lower(*q) || is_digit(*q) || *q == '_' || *q == '.')) {
        if (++n > MAX_TAG_TAIL) {
            return 0;
        }
        q++;
    }
    *p = q;
    return 1;
}

static int hex_value(unsigned char c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* ,"crc":"[0-9a-f]{8}"} at s (SUFFIX_LEN bytes); the stored CRC in *crc. */
static int parse_suffix(const unsigned char *s, uint32_t *crc)
{
    if (memcmp(s, ",\"crc\":\"", 8) != 0 || s[16] != '"' || s[17] != '}') {
        return 0;
    }
    uint32_t v = 0;
    for (int i = 8; i < 16; i++) {
        int h = hex_value(s[i]);
        if (h < 0) {
            return 0;
        }
        v = (v << 4) | (uint32_t)h;
    }
    *crc = v;
    return 1;
}

/* Whether key [k, k+n) is one of `kinds`; the last key accepted is remembered, as most runs are
 * of one kind. -1 on an error. */
static int known_kind(PyObject *kinds, const unsigned char *k, Py_ssize_t n, PyObject **last)
{
    if (*last != NULL && PyBytes_GET_SIZE(*last) == n && memcmp(PyBytes_AS_STRING(*last), k, (size_t)n) == 0) {
        return 1;
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)k, n);
    if (key == NULL) {
        return -1;
    }
    int found = PySet_Contains(kinds, key);
    if (found == 1) {
        Py_XSETREF(*last, key);
    } else {
        Py_DECREF(key);
    }
    return found;
}

/* One line [line, nl): 1 if the batch path takes it, 0 if not, -1 on an error. */
static int plain_line(const unsigned char *line, const unsigned char *nl, unsigned long long seq,
                      uint32_t salt, PyObject *kinds, PyObject **last)
{
    const unsigned char *p = line;
    if (nl - line < SUFFIX_LEN + 1) {
        return 0;
    }
    const unsigned char *suffix = nl - SUFFIX_LEN;
    if (!expect(&p, suffix, "{\"seq\":", 7) || !parse_seq(&p, suffix, seq) || !expect(&p, suffix, ",\"t\":", 5)
        || !skip_t(&p, suffix) || !expect(&p, suffix, ",\"v\":", 5)) {
        return 0;
    }
    const unsigned char *key = p;
    if (!skip_key(&p, suffix) || !expect(&p, suffix, "\"", 1)) {
        return 0;
    }
    /* The key's closing quote, then , or } before the suffix (the regex's "[,}].*). */
    if (p >= suffix || (*p != ',' && *p != '}')) {
        return 0;
    }
    int known = known_kind(kinds, key, (Py_ssize_t)(p - 1 - key), last);
    if (known != 1) {
        return known;
    }
    uint32_t stored;
    if (!parse_suffix(suffix, &stored)) {
        return 0;
    }
    /* zlib's crc32 takes a uInt length: a line is far below 4 GiB (the reader's max_line). */
    uLong crc = crc32((uLong)salt, line, (uInt)(suffix - line));
    return (uint32_t)crc == stored;
}

PyDoc_STRVAR(plain_run_doc,
"plain_run($module, buf, a, end, kinds, salt, seq, /)\n"
"--\n"
"\n"
"End of the run of plain lines of buf[a:end] from a: the offset just past the last line that\n"
"is one, a if the first is not. A plain line is {\"seq\":N,\"t\":T,\"v\":V,\"type\":\"TAG\" (the\n"
"envelope's form) with N the next seq from `seq` and V,\"type\":\"TAG in `kinds` (a set of\n"
"bytes), ends with ,\"crc\":\"XXXXXXXX\"} and a \\n before `end`, and XXXXXXXX (lowercase hex) is\n"
"the CRC-32 of the line before the suffix, seeded with `salt`.");

static PyObject *plain_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 6) {
        PyErr_Format(PyExc_TypeError, "plain_run() takes 6 positional arguments (%zd given)", nargs);
        return NULL;
    }
    Py_ssize_t a = PyLong_AsSsize_t(args[1]);
    Py_ssize_t end = PyLong_AsSsize_t(args[2]);
    PyObject *kinds = args[3];
    unsigned long salt = PyLong_AsUnsignedLong(args[4]);
    unsigned long long seq = PyLong_AsUnsignedLongLong(args[5]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (!PyAnySet_Check(kinds) || salt > 0xffffffffUL) {
        PyErr_SetString(PyExc_TypeError, "plain_run() needs a set of kinds and a 32-bit salt");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) != 0) {
        return NULL;
    }
    if (a < 0 || end < a || end > view.len) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "plain_run() needs 0 <= a <= end <= len(buf)");
        return NULL;
    }
    const unsigned char *base = (const unsigned char *)view.buf;
    const unsigned char *stop = base + end;
    const unsigned char *line = base + a;
    PyObject *last = NULL;
    int ok = 1;
    while (line < stop) {
        const unsigned char *nl = memchr(line, '\n', (size_t)(stop - line));
        if (nl == NULL) {
            break;
        }
        ok = plain_line(line, nl, seq, (uint32_t)salt, kinds, &last);
        if (ok != 1) {
            break;
        }
        seq++;
        line = nl + 1;
    }
    Py_XDECREF(last);
    Py_ssize_t result = (Py_ssize_t)(line - base);
    PyBuffer_Release(&view);
    if (ok < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(result);
}

static PyMethodDef scan_methods[] = {
    {"plain_run", (PyCFunction)(void (*)(void))plain_run, METH_FASTCALL, plain_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    "_scan",
    "The reader's batch path over a run of plain lines (the envelope, seq and salted CRC-32).",
    0,
    scan_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModuleDef_Init(&scan_module); }
