/*
 * Argument helpers shared by the addon's translation units: typed-array and number arguments,
 * checked, with a RangeError naming the function and argument otherwise.
 */
#ifndef CROSSCODE_NAPI_ARGS_H
#define CROSSCODE_NAPI_ARGS_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>

/* Parallelise loops above this many elements (below, a thread hand-off costs more than it saves). */
#define PAR_MIN 32768

/* ---------------------------------------------------------------- argument helpers */

typedef struct {
  void *data;
  size_t length;
  napi_typedarray_type type;
} Arr;

static inline napi_value throw_range(napi_env env, const char *fn, const char *what) {
  char msg[256];
  snprintf(msg, sizeof msg, "@crosscode/native %s: %s", fn, what);
  napi_throw_range_error(env, NULL, msg);
  return NULL;
}

static inline int get_arr(napi_env env, napi_value v, napi_typedarray_type want, Arr *out) {
  bool is;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &out->type, &out->length, &out->data, &ab, &off) != napi_ok) return 0;
  return out->type == want;
}

static inline int get_f64(napi_env env, napi_value v, double *out) { return napi_get_value_double(env, v, out) == napi_ok; }

static inline int get_i64(napi_env env, napi_value v, int64_t *out) { return napi_get_value_int64(env, v, out) == napi_ok; }

/* n arguments, of which the first `min` are required (N-API passes undefined for missing ones). */
#define ARGS_MIN(n, min)                                          \
  size_t argc = n;                                                \
  napi_value argv[n];                                             \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);           \
  if (argc < min) return throw_range(env, FN, "too few arguments");
#define ARGS(n) ARGS_MIN(n, n)

#define F32(i, name, var) \
  Arr var;                \
  if (!get_arr(env, argv[i], napi_float32_array, &var)) return throw_range(env, FN, name " must be a Float32Array");
/* An optional Float32Array: `has` is 0 when the argument is undefined or null. */
#define OPT_F32(i, name, var, has)                                                  \
  Arr var;                                                                          \
  int has;                                                                          \
  {                                                                                 \
    napi_valuetype t_;                                                              \
    napi_typeof(env, argv[i], &t_);                                                 \
    has = t_ != napi_undefined && t_ != napi_null;                                  \
  }                                                                                 \
  if (has && !get_arr(env, argv[i], napi_float32_array, &var))                      \
    return throw_range(env, FN, name " must be a Float32Array or undefined");
#define F64(i, name, var) \
  Arr var;                \
  if (!get_arr(env, argv[i], napi_float64_array, &var)) return throw_range(env, FN, name " must be a Float64Array");
#define I32(i, name, var) \
  Arr var;                \
  if (!get_arr(env, argv[i], napi_int32_array, &var)) return throw_range(env, FN, name " must be an Int32Array");
#define INT(i, name, var) \
  int64_t var;            \
  if (!get_i64(env, argv[i], &var) || var < 0) return throw_range(env, FN, name " must be a non-negative integer");
#define NUM(i, name, var) \
  double var;             \
  if (!get_f64(env, argv[i], &var)) return throw_range(env, FN, name " must be a number");
#define NEED(cond, what) \
  if (!(cond)) return throw_range(env, FN, what);

static inline napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

#endif
