/* JSON -> Jinja values, so that a render can take the variables a request
 * carries (messages with tool calls, tools) as they are. Strings point into
 * the json_t, which must outlive the render. */
#include <jansson.h>
#include <string.h>

#include "tokenizer/jinja_internal.h"

#define MAX_JSON_DEPTH 64

/* -1: out of memory (arena limit); -2: nested deeper than MAX_JSON_DEPTH;
 * -3: a value with no Jinja counterpart */
int jv_from_json(jarena *a, const json_t *j, jv *out, int depth) {
    if (depth > MAX_JSON_DEPTH) return -2;
    switch (json_typeof(j)) {
    case JSON_NULL: *out = jv_none(); return 0;
    case JSON_TRUE: *out = jv_bool(true); return 0;
    case JSON_FALSE: *out = jv_bool(false); return 0;
    case JSON_INTEGER: *out = jv_int((int64_t)json_integer_value(j)); return 0;
    case JSON_REAL: *out = jv_float(json_real_value(j)); return 0;
    case JSON_STRING: *out = jv_str(json_string_value(j), json_string_length(j)); return 0;
    case JSON_ARRAY: {
        jv_list *l = jv_list_new(a, json_array_size(j));
        if (!l) return -1;
        size_t i;
        const json_t *item;
        json_array_foreach((json_t *)j, i, item) {
            jv v;
            int rc = jv_from_json(a, item, &v, depth + 1);
            if (rc) return rc;
            if (jv_list_push(a, l, v)) return -1;
        }
        out->type = JV_LIST;
        out->u.list = l;
        return 0;
    }
    case JSON_OBJECT: {
        jv_dict *d = jv_dict_new(a, json_object_size(j));
        if (!d) return -1;
        const char *key;
        const json_t *item;
        json_object_foreach((json_t *)j, key, item) {
            jv v;
            int rc = jv_from_json(a, item, &v, depth + 1);
            if (rc) return rc;
            if (jv_dict_set(a, d, key, strlen(key), v)) return -1;
        }
        out->type = JV_DICT;
        out->u.dict = d;
        return 0;
    }
    }
    return -3;
}
