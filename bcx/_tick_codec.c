/* The usual tick's member in C (bcx.tick): encode_entries' `time member` lines and decode_member. In Python a tick
 * costs 4-5 us each way, where the chunk script spends 4 on the server (issue 19, target 4). Only the usual shape is
 * handled here: plain decimals (no leading zeros, no exponent, ASCII digits), a price of at most 9 decimals, a size
 * of at most 8, a bid and an ask each with the price's decimals and 0-6 units of its last digit from it, or neither
 * (a REST backfill). Any other tick or member, and any value that does not fit 64 bits, is handed to the Python
 * codec (`entry(tick)`, `decode(product, member, score)`), which stays the definition of the member:
 * tests/unit/test_tick_codec.py holds this file to it. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static const char DIGITS36[] = "0123456789abcdefghijklmnopqrstuvwxyz";
static const char ENDS[] = "!#$%&()*+,ABCDEFGHIJKLMNOPQRSTUVWXYZ./:<>?@[]^_`{}~"; /* bcx.tick._ENDS */
#define RADIX 51    /* len(ENDS) */
#define DECIMALS 10 /* a field's value: units * 10 + decimals */
#define NO_SIZE 9   /* a size's decimals of 9: no size */
#define NEAR 7      /* bid and ask 0-6 units from the price: one end character */
#define NO_BOOK 49  /* neither a bid nor an ask */
#define MAX_DIGITS 17 /* units * 10 + 9 stays below 2**63 */
#define ENTRY_MAX 96

/* A decimal written the usual way, as bcx.tick._PLAIN takes it: (0|[1-9][0-9]*)(\.[0-9]+)? */
typedef struct {
    long long units;     /* its digits without the point */
    int decimals;        /* how many follow the point */
} Decimal;

/* The ASCII text of an exact str, or NULL for anything else (the Python encoder decides those). */
static const char *ascii_text(PyObject *value, Py_ssize_t *length) {
    if (!PyUnicode_CheckExact(value) || !PyUnicode_IS_ASCII(value)) return NULL;
    *length = PyUnicode_GET_LENGTH(value);
    return (const char *)PyUnicode_1BYTE_DATA(value);
}

/* 1 when text is a plain decimal of at most MAX_DIGITS digits, with its parts in *out. */
static int parse_decimal(const char *text, Py_ssize_t length, Decimal *out) {
    Py_ssize_t i = 0;
    long long units = 0;
    int digits = 0, decimals = 0;
    if (length == 0 || (text[0] == '0' && length > 1 && text[1] != '.')) return 0;
    for (; i < length && text[i] >= '0' && text[i] <= '9'; i++) {
        if (++digits > MAX_DIGITS) return 0;
        units = units * 10 + (text[i] - '0');
    }
    if (i == 0) return 0;
    if (i < length) {
        if (text[i] != '.' || i + 1 == length) return 0;
        for (i++; i < length && text[i] >= '0' && text[i] <= '9'; i++, decimals++) {
            if (++digits > MAX_DIGITS) return 0;
            units = units * 10 + (text[i] - '0');
        }
        if (i < length) return 0;
    }
    out->units = units;
    out->decimals = decimals;
    return 1;
}

/* base-36 digits of value, none for 0 (bcx.tick.base36 without its "0"); returns how many were written. */
static int put_base36(char *out, unsigned long long value) {
    char reversed[16];
    int count = 0;
    for (; value; value /= 36) reversed[count++] = DIGITS36[value % 36];
    for (int i = 0; i < count; i++) out[i] = reversed[count - 1 - i];
    return count;
}

/* bcx.tick._field: value // 51 in base 36, then the end character of value % 51. */
static int put_field(char *out, unsigned long long value) {
    int count = put_base36(out, value / RADIX);
    out[count] = ENDS[value % RADIX];
    return count + 1;
}

/* A side's units of the price's last digit below (sign -1) or above (sign 1) it, or -1 when the side is not the
 * usual one: a plain decimal with the price's decimals, 0-6 units away. */
static int near_offset(PyObject *side, const Decimal *price, int sign) {
    Py_ssize_t length;
    const char *text = ascii_text(side, &length);
    Decimal form;
    if (text == NULL || !parse_decimal(text, length, &form) || form.decimals != price->decimals) return -1;
    long long offset = sign * (form.units - price->units);
    return offset >= 0 && offset < NEAR ? (int)offset : -1;
}

/* The compact book value, or -1 for a book the Python encoder writes. */
static int book_value(PyObject *bid, PyObject *ask, const Decimal *price) {
    if (bid == Py_None && ask == Py_None) return NO_BOOK;
    if (bid == Py_None || ask == Py_None) return -1;
    int below = near_offset(bid, price, -1);
    int above = below < 0 ? -1 : near_offset(ask, price, 1);
    return above < 0 ? -1 : below * NEAR + above;
}

/* An exact int's value, or -1 for anything else or one that does not fit. */
static long long exact_int(PyObject *value) {
    if (!PyLong_CheckExact(value)) return -1;
    int overflow = 0;
    long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
    return overflow ? -1 : number;
}

/* The usual tick's line in `line`, its length returned; 0 when the Python encoder must write it. */
static int usual_line(PyObject *tick, char *line) {
    if (!PyTuple_Check(tick) || PyTuple_GET_SIZE(tick) != 8) return 0;
    long long time_ms = exact_int(PyTuple_GET_ITEM(tick, 1)), trade_id = exact_int(PyTuple_GET_ITEM(tick, 2));
    if (time_ms < 0 || trade_id < 0) return 0; /* negative ids are refused by the Python encoder */
    Py_ssize_t price_length, size_length = 0;
    const char *price = ascii_text(PyTuple_GET_ITEM(tick, 3), &price_length);
    Decimal form, size_form;
    if (price == NULL || !parse_decimal(price, price_length, &form) || form.decimals >= DECIMALS) return 0;
    int book = book_value(PyTuple_GET_ITEM(tick, 4), PyTuple_GET_ITEM(tick, 5), &form);
    if (book < 0) return 0;
    PyObject *size = PyTuple_GET_ITEM(tick, 6);
    const char *size_text = size == Py_None ? "" : ascii_text(size, &size_length);
    if (size_text == NULL) return 0;
    if (size_length && (!parse_decimal(size_text, size_length, &size_form) || size_form.decimals >= NO_SIZE)) return 0;
    int at = snprintf(line, ENTRY_MAX, "%lld ", time_ms);
    at += put_base36(line + at, (unsigned long long)trade_id / 36);
    line[at++] = ENDS[trade_id % 36];
    if (size_length)
        at += put_field(line + at, (unsigned long long)size_form.units * DECIMALS + size_form.decimals);
    else
        line[at++] = ENDS[NO_SIZE];
    at += put_field(line + at, (unsigned long long)form.units * DECIMALS + form.decimals);
    line[at++] = ENDS[book];
    return at;
}

static PyObject *encode(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *ticks, *entry;
    if (!PyArg_ParseTuple(args, "OO:encode", &ticks, &entry)) return NULL;
    /* a tuple of its own: the callback runs Python code, which must not see a list we walk change under us */
    PyObject *sequence = PySequence_Tuple(ticks);
    if (sequence == NULL) return NULL;
    Py_ssize_t count = PyTuple_GET_SIZE(sequence);
    PyObject *lines = PyList_New(count), *joined = NULL;
    char line[ENTRY_MAX];
    if (lines == NULL) goto done;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *tick = PyTuple_GET_ITEM(sequence, i);
        int length = usual_line(tick, line);
        PyObject *text = length ? PyUnicode_FromStringAndSize(line, length) : PyObject_CallOneArg(entry, tick);
        if (text == NULL) goto done;
        PyList_SET_ITEM(lines, i, text);
    }
    PyObject *separator = PyUnicode_FromString("\n");
    if (separator != NULL) {
        joined = PyUnicode_Join(separator, lines);
        Py_DECREF(separator);
    }
done:
    Py_XDECREF(lines);
    Py_DECREF(sequence);
    return joined;
}

/* An end character's value (its place in ENDS), -1 for any other byte. */
static signed char END_VALUES[256];

/* A compact field at *at: base-36 digits (at most 10), then an end character; its value digits * radix + the end's
 * value in *value (radix 51; the trade id's 36), *at moved past it. 0 when there is none of that shape. */
static int read_field(const char *text, Py_ssize_t length, Py_ssize_t *at, int radix, long long *value) {
    long long digits = 0;
    int count = 0;
    Py_ssize_t i = *at;
    for (; i < length && ((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'z')); i++) {
        if (++count > 10) return 0; /* 36**10 * 51 stays below 2**63 */
        digits = digits * 36 + (text[i] <= '9' ? text[i] - '0' : text[i] - 'a' + 10);
    }
    if (i == length || END_VALUES[(unsigned char)text[i]] < 0) return 0;
    *value = digits * radix + END_VALUES[(unsigned char)text[i]];
    *at = i + 1;
    return 1;
}

/* bcx.tick._unscaled: units with `decimals` digits after the point, zero-padded (`5`, 2 -> `0.05`). */
static PyObject *unscaled(long long units, int decimals) {
    char digits[32], text[40];
    int count = snprintf(digits, sizeof digits, "%lld", units), at = 0;
    int whole = count > decimals ? count - decimals : 1;
    if (count <= decimals) text[at++] = '0';
    memcpy(text + at, digits, count > decimals ? whole : 0);
    at += count > decimals ? whole : 0;
    if (decimals) {
        text[at++] = '.';
        for (int pad = decimals - count; pad > 0; pad--) text[at++] = '0';
        int fraction = count < decimals ? count : decimals;
        memcpy(text + at, digits + count - fraction, fraction);
        at += fraction;
    }
    return PyUnicode_FromStringAndSize(text, at);
}

/* The usual member's fields: 1 when it is one (a near book or none), with the values in out[] (trade id, size,
 * price, book). */
static int usual_member(PyObject *member, long long out[4]) {
    Py_ssize_t length, at = 0;
    const char *text = ascii_text(member, &length);
    if (text == NULL) return 0;
    for (int field = 0; field < 4; field++)
        if (!read_field(text, length, &at, field == 0 ? 36 : RADIX, &out[field])) return 0;
    if (out[3] == NO_BOOK) return 1;
    return out[3] < NO_BOOK && out[2] / DECIMALS >= out[3] / NEAR; /* a bid below 0 is Python's to write */
}

/* Tick(*values), sequence None: tuple.__new__(Tick, fields), which is all a NamedTuple's Python-level __new__ does,
 * without that Python frame. Through tuple's own tp_new, so whatever a tuple needs set up (3.14 caches its hash) is. */
static PyObject *new_tick(PyTypeObject *tick_class, PyObject *values[7]) {
    PyObject *fields = PyTuple_Pack(8, values[0], values[1], values[2], values[3], values[4], values[5], values[6],
                                    Py_None);
    if (fields == NULL) return NULL;
    PyObject *args = PyTuple_Pack(1, fields);
    Py_DECREF(fields);
    if (args == NULL) return NULL;
    PyObject *tick = PyTuple_Type.tp_new(tick_class, args, NULL);
    Py_DECREF(args);
    return tick;
}

static PyObject *decode(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t count) {
    if (count != 5 || !PyType_Check(args[0]) || !PyType_IsSubtype((PyTypeObject *)args[0], &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "decode(tick_class (a NamedTuple), decode_in_python, product, member, score)");
        return NULL;
    }
    PyObject *tick_class = args[0], *fallback = args[1], *product = args[2], *member = args[3], *score = args[4];
    long long fields[4];
    if (!usual_member(member, fields)) return PyObject_Vectorcall(fallback, args + 2, 3, NULL);
    long long units = fields[2] / DECIMALS, below = fields[3] / NEAR, above = fields[3] % NEAR;
    int decimals = (int)(fields[2] % DECIMALS), size_decimals = (int)(fields[1] % DECIMALS);
    PyObject *time_ms = PyNumber_Long(score); /* int(score), as Python's */
    if (time_ms == NULL) return NULL;
    PyObject *values[7] = {product, time_ms, PyLong_FromLongLong(fields[0]), unscaled(units, decimals)};
    int book = fields[3] < NO_BOOK;
    values[4] = book ? unscaled(units - below, decimals) : Py_NewRef(Py_None);
    values[5] = book ? unscaled(units + above, decimals) : Py_NewRef(Py_None);
    values[6] = size_decimals == NO_SIZE ? Py_NewRef(Py_None) : unscaled(fields[1] / DECIMALS, size_decimals);
    PyObject *tick = NULL;
    if (values[1] && values[2] && values[3] && values[4] && values[5] && values[6])
        tick = new_tick((PyTypeObject *)tick_class, values);
    for (int i = 1; i < 7; i++) Py_XDECREF(values[i]);
    return tick;
}

static PyMethodDef methods[] = {
    {"encode", encode, METH_VARARGS,
     "encode(ticks, entry) -> str: the ticks' entry lines joined by newlines; entry(tick) writes the unusual ones."},
    {"decode", (PyCFunction)(void (*)(void))decode, METH_FASTCALL,
     "decode(tick_class, decode_in_python, product, member, score) -> Tick; decode_in_python reads the unusual ones."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "bcx._tick_codec", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__tick_codec(void) {
    memset(END_VALUES, -1, sizeof END_VALUES);
    for (int i = 0; i < RADIX; i++) END_VALUES[(unsigned char)ENDS[i]] = (signed char)i;
    return PyModule_Create(&module);
}
