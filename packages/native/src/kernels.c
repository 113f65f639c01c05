/*
 * @crosscode/native: CPU kernels for crosscode-ts as a Node-API addon.
 *
 * Dense matrix products go to the system BLAS (cblas_sgemm: OpenBLAS on Linux, Accelerate on
 * macOS), which brings its own threads. The sparse crosscoder kernels, TopK and Adam are plain
 * loops that the compiler vectorises, split over threads with OpenMP where the outputs are
 * disjoint (so results do not depend on the thread count). Every function takes typed arrays and
 * plain numbers, checks their lengths, and throws a RangeError naming the argument otherwise.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifndef __APPLE__
extern void openblas_set_num_threads(int);
extern int openblas_get_num_threads(void);
extern char *openblas_get_config(void);
#endif

static int g_threads = 1;

#include "napi_args.h"
#include "decoder.h"

/* ---------------------------------------------------------------- BLAS */

/*
 * C (M×N, row-major, ldc N) = op(A)·op(B) + beta·C. A single row times a transposed B (M = 1:
 * a decode step's projections and LM head, `[out, in]` weights) goes to sgemv, which streams B once; OpenBLAS' sgemm would first pack
 * (copy) all of B — for a 151,936 × 2048 LM head, more memory traffic than the product itself.
 */
void crosscode_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *a, const float *b, float beta, float *c) {
  if (M == 1 && tb) {
    /* op(A) is 1×K: its K values are contiguous whether or not A is transposed (lda = 1 or K).
       Only for [out, in] weights (linear layers): x·W with W [in, out] keeps sgemm, so that a
       row's result does not depend on how many rows share the product (the crosscoder's
       encoder is tested to be batch-independent to the bit) */
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)N, (int)K, 1.0f, b, (int)K, a, 1, beta, c, 1);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
              1.0f, a, ta ? (int)M : (int)K, b, tb ? (int)K : (int)N, beta, c, (int)N);
}

/*
 * gemmBatched(transA, transB, batch, M, N, K, A, strideA, B, strideB, C, beta)
 * C[i] (M×N, row-major, contiguous) = op(A[i]) · op(B[i]) + beta·C[i] for i < batch, where A[i]
 * starts at i·strideA (0 broadcasts one matrix) and op(A) is M×K (stored K×M when transposed).
 */
#undef FN
#define FN "gemmBatched"
static napi_value gemm_batched(napi_env env, napi_callback_info info) {
  ARGS(12);
  bool ta, tb;
  napi_get_value_bool(env, argv[0], &ta);
  napi_get_value_bool(env, argv[1], &tb);
  INT(2, "batch", batch);
  INT(3, "M", M);
  INT(4, "N", N);
  INT(5, "K", K);
  F32(6, "A", A);
  INT(7, "strideA", sA);
  F32(8, "B", Bm);
  INT(9, "strideB", sB);
  F32(10, "C", C);
  NUM(11, "beta", beta);
  if (batch == 0 || M == 0 || N == 0) return undefined(env);
  NEED(A.length >= (size_t)((batch - 1) * sA + M * K), "A is shorter than batch × M × K");
  NEED(Bm.length >= (size_t)((batch - 1) * sB + K * N), "B is shorter than batch × K × N");
  NEED(C.length >= (size_t)(batch * M * N), "C is shorter than batch × M × N");
  const float *a = A.data, *b = Bm.data;
  float *c = C.data;
  for (int64_t i = 0; i < batch; i++) {
    if (K == 0) {
      for (int64_t r = 0; r < M * N; r++) c[i * M * N + r] = beta == 0 ? 0.0f : (float)beta * c[i * M * N + r];
      continue;
    }
    crosscode_gemm(ta, tb, M, N, K, a + i * sA, b + i * sB, (float)beta, c + i * M * N);
  }
  return undefined(env);
}

/* setThreads(n): BLAS and OpenMP threads. */
#undef FN
#define FN "setThreads"
static napi_value set_threads(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, "threads", n);
  NEED(n >= 1, "threads must be >= 1");
  g_threads = (int)n;
#ifndef __APPLE__
  openblas_set_num_threads((int)n);
#endif
#ifdef _OPENMP
  omp_set_num_threads((int)n);
#endif
  return undefined(env);
}

static napi_value info_fn(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value o, s, t;
  napi_create_object(env, &o);
#ifdef __APPLE__
  napi_create_string_utf8(env, "Accelerate", NAPI_AUTO_LENGTH, &s);
#else
  napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &s);
#endif
  napi_set_named_property(env, o, "blas", s);
  napi_create_int32(env, g_threads, &t);
  napi_set_named_property(env, o, "threads", t);
  napi_value omp;
#ifdef _OPENMP
  napi_get_boolean(env, true, &omp);
#else
  napi_get_boolean(env, false, &omp);
#endif
  napi_set_named_property(env, o, "openmp", omp);
  return o;
}

/* ---------------------------------------------------------------- TopK */

/* (value desc, index asc): the order of tf.topk's results. */
static inline int before(float va, int32_t ia, float vb, int32_t ib) { return va > vb || (va == vb && ia < ib); }

/* Min-heap (by `before` reversed) of the k best so far; root = the worst kept. */
static void sift_down(float *v, int32_t *ix, int k, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, w = i;
    if (l < k && before(v[w], ix[w], v[l], ix[l])) w = l;
    if (r < k && before(v[w], ix[w], v[r], ix[r])) w = r;
    if (w == i) return;
    float tv = v[i]; v[i] = v[w]; v[w] = tv;
    int32_t ti = ix[i]; ix[i] = ix[w]; ix[w] = ti;
    i = w;
  }
}

/*
 * The k best of row[idx[0..n)] (all of row[0..n) when idx is NULL), visited in increasing index
 * order, into hv/hi sorted best first (NaN counts as largest; values read back from the row).
 * n ≥ kk.
 */
static void heap_topk(const float *row, const int32_t *idx, int64_t n, int kk, float *hv, int32_t *hi) {
  for (int j = 0; j < kk; j++) {
    const int32_t at = idx == NULL ? j : idx[j];
    hv[j] = isnan(row[at]) ? INFINITY : row[at];
    hi[j] = at;
  }
  for (int j = kk / 2 - 1; j >= 0; j--) sift_down(hv, hi, kk, j);
  float worst = hv[0];
  for (int64_t c = kk; c < n; c++) {
    const int32_t at = idx == NULL ? (int32_t)c : idx[c];
    float v = row[at];
    if (v < worst) continue; /* fast reject (NaN compares false and goes on to the exact test) */
    v = isnan(v) ? INFINITY : v;
    if (before(v, at, hv[0], hi[0])) {
      hv[0] = v;
      hi[0] = at;
      sift_down(hv, hi, kk, 0);
      worst = hv[0];
    }
  }
  for (int m = kk - 1; m > 0; m--) {
    float tv = hv[0]; hv[0] = hv[m]; hv[m] = tv;
    int32_t ti = hi[0]; hi[0] = hi[m]; hi[m] = ti;
    sift_down(hv, hi, m, 0);
  }
  for (int j = 0; j < kk; j++) hv[j] = row[hi[j]];
}

/* A float's bits as an unsigned key in the float order (NaN excluded; -0 below +0). */
static inline uint32_t order_key(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static inline float from_order_key(uint32_t k) {
  const uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/*
 * A lower bound of the k-th largest of a[0..n) (1 ≤ k ≤ n ≤ 1024, no NaN): that value's key
 * rounded down to its top 16 bits, by two 8-bit counting passes. Counting has no data-dependent
 * branches, which a quickselect over the same values mispredicts at every step; the bound is
 * slightly looser, which costs a candidate or so per row.
 */
static float kth_largest_bound(const float *a, int64_t n, int64_t k) {
  uint32_t keys[1024];
  uint16_t count[256];
  for (int64_t i = 0; i < n; i++) keys[i] = order_key(a[i]);
  memset(count, 0, sizeof count);
  for (int64_t i = 0; i < n; i++) count[keys[i] >> 24]++;
  int64_t above = 0;
  int hi8 = 255;
  for (; hi8 > 0 && above + count[hi8] < k; hi8--) above += count[hi8];
  memset(count, 0, sizeof count);
  for (int64_t i = 0; i < n; i++)
    if ((int)(keys[i] >> 24) == hi8) count[(keys[i] >> 16) & 255]++;
  int lo8 = 255;
  for (; lo8 > 0 && above + count[lo8] < k; lo8--) above += count[lo8];
  return from_order_key(((uint32_t)hi8 << 24) | ((uint32_t)lo8 << 16));
}

/* Candidate budget of topk_row's threshold pass (indices kept on the stack). */
#define TOPK_CANDIDATES 2048

/*
 * The kk best of row[cand[0..n)] (kk ≤ n, no NaN), sorted best first, into hv/hi: each candidate
 * is one 64-bit key (value's order key, then the complemented index, so ties go to the lower
 * index) and an insertion sort orders the few of them. ±0 share a key (tf.topk treats them as
 * equal); values are read back from the row.
 */
static void sort_candidates(const float *row, const int32_t *cand, int64_t n, int kk, float *hv, int32_t *hi) {
  uint64_t key[TOPK_CANDIDATES];
  for (int64_t i = 0; i < n; i++)
    key[i] = ((uint64_t)order_key(row[cand[i]] + 0.0f) << 32) | (uint32_t)~(uint32_t)cand[i];
  for (int64_t i = 1; i < n; i++) {
    const uint64_t x = key[i];
    int64_t j = i;
    for (; j > 0 && key[j - 1] < x; j--) key[j] = key[j - 1];
    key[j] = x;
  }
  for (int j = 0; j < kk; j++) {
    hi[j] = (int32_t)~(uint32_t)key[j];
    hv[j] = row[hi[j]];
  }
}

/*
 * One row's k largest (NaN counts as largest) into hv/hi, sorted best first; ties by lower index.
 * Split into 4k blocks, the k-th largest block maximum is at or below the k-th largest value (k
 * blocks reach it), so a bound τ under it leaves only elements ≥ τ to select from, and only in
 * blocks whose maximum reaches τ: one vectorised pass finds the maxima, a branch-free pass over
 * those blocks collects the few candidates (≈ k + 5 on Gaussian rows), and a sort of them gives
 * the result — the same as the heap over the whole row. Correctness needs only that at least k
 * elements reach τ (then the k largest all do), which is checked; the bound keeps them few. Rows
 * with a NaN, short rows, rows where fewer than k reach τ (−∞ ties) or too many do take the
 * plain heap.
 */
static void topk_row(const float *row, int64_t Cc, int kk, float *hv, int32_t *hi) {
  const int64_t nb = 4 * (int64_t)kk;
  if (Cc < 2 * nb || nb > 1024) {
    heap_topk(row, NULL, Cc, kk, hv, hi);
    return;
  }
  const int64_t bs = (Cc + nb - 1) / nb, blocks = (Cc + bs - 1) / bs;
  float maxima[1024];
  int nan = 0;
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t from = b * bs, to = from + bs < Cc ? from + bs : Cc;
    float m = -INFINITY;
#pragma omp simd reduction(max : m) reduction(| : nan)
    for (int64_t t = from; t < to; t++) {
      m = row[t] > m ? row[t] : m;
      nan |= row[t] != row[t];
    }
    maxima[b] = m;
  }
  if (nan || blocks < kk) {
    heap_topk(row, NULL, Cc, kk, hv, hi);
    return;
  }
  const float tau = kth_largest_bound(maxima, blocks, kk);
  /* the branch-free writes check the budget after each span of ≤ TOPK_SPAN elements */
  enum { TOPK_SPAN = 1024 };
  int32_t cand[TOPK_CANDIDATES + TOPK_SPAN];
  int64_t n = 0;
  for (int64_t b = 0; b < blocks; b++) {
    if (!(maxima[b] >= tau)) continue;
    const int64_t from = b * bs, to = from + bs < Cc ? from + bs : Cc;
    for (int64_t s = from; s < to; s += TOPK_SPAN) {
      const int64_t e = s + TOPK_SPAN < to ? s + TOPK_SPAN : to;
      for (int64_t t = s; t < e; t++) {
        cand[n] = (int32_t)t;
        n += row[t] >= tau;
      }
      if (n > TOPK_CANDIDATES) {
        heap_topk(row, NULL, Cc, kk, hv, hi);
        return;
      }
    }
  }
  if (n < kk) heap_topk(row, NULL, Cc, kk, hv, hi);
  else if (n <= 4 * (int64_t)kk) sort_candidates(row, cand, n, kk, hv, hi);
  else heap_topk(row, cand, n, kk, hv, hi);
}

/*
 * topkRows(x, rows, cols, k, values, indices): per row the k largest values (NaN counts as
 * largest, as in TensorFlow.js' cpu kernel), sorted descending, ties by lower index.
 */
#undef FN
#define FN "topkRows"
static napi_value topk_rows(napi_env env, napi_callback_info info) {
  ARGS(6);
  F32(0, "x", X);
  INT(1, "rows", R);
  INT(2, "cols", Cc);
  INT(3, "k", k);
  F32(4, "values", V);
  I32(5, "indices", IX);
  NEED(k <= Cc, "k must be <= cols");
  NEED(X.length >= (size_t)(R * Cc), "x is shorter than rows × cols");
  NEED(V.length >= (size_t)(R * k) && IX.length >= (size_t)(R * k), "values/indices are shorter than rows × k");
  if (k == 0) return undefined(env);
  const float *x = X.data;
  float *vals = V.data;
  int32_t *idx = IX.data;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; r++) topk_row(x + r * Cc, Cc, (int)k, vals + r * k, idx + r * k);
  return undefined(env);
}

/* ---------------------------------------------------------------- sparse crosscoder kernels */

/* csrDecode(rowPtr, cols, vals, Wd, W, out): out[b] += Σ_{n in row b} vals[n] · Wd[cols[n]]. */
#undef FN
#define FN "csrDecode"
static napi_value csr_decode(napi_env env, napi_callback_info info) {
  ARGS(6);
  I32(0, "rowPtr", RP);
  I32(1, "cols", CO);
  F32(2, "vals", VA);
  F32(3, "Wd", WD);
  INT(4, "W", W);
  F32(5, "out", OUT);
  NEED(RP.length >= 1, "rowPtr is empty");
  int64_t B = (int64_t)RP.length - 1;
  const int32_t *rp = RP.data, *cols = CO.data;
  NEED(rp[B] >= 0 && (size_t)rp[B] <= CO.length && CO.length == VA.length, "rowPtr/cols/vals lengths disagree");
  NEED(OUT.length >= (size_t)(B * W), "out is shorter than rows × W");
  int64_t F = W == 0 ? 0 : (int64_t)(WD.length / W);
  for (size_t n = 0; n < CO.length; n++) NEED(cols[n] >= 0 && cols[n] < F, "a column index is outside Wd");
  const float *vals = VA.data, *wd = WD.data;
  float *out = OUT.data;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; b++) {
    float *o = out + b * W;
    for (int32_t n = rp[b]; n < rp[b + 1]; n++) {
      const float v = vals[n];
      const float *w = wd + (int64_t)cols[n] * W;
      if (n + 1 < rp[B]) /* the next entry's W_dec row is a random row: ask for it now */
        for (int64_t r = 0; r < W; r += 16) __builtin_prefetch(wd + (int64_t)cols[n + 1] * W + r);
      for (int64_t r = 0; r < W; r++) o[r] += v * w[r];
    }
  }
  return undefined(env);
}

/* Σ x[r]·y[r] in float32, vectorised: rowDots and decodeLoss's fused dots share it, so both
   sum in the same order. */
static inline float row_dot(const float *x, const float *y, int64_t W) {
  float s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t r = 0; r < W; r++) s += x[r] * y[r];
  return s;
}

/* rowDots(A, ai, Bm, bi, W, out, at): out[at + n] = A[ai_n] · Bm[bi_n] (rows of width W). */
#undef FN
#define FN "rowDots"
static napi_value row_dots(napi_env env, napi_callback_info info) {
  ARGS(7);
  F32(0, "A", A);
  I32(1, "ai", AI);
  F32(2, "Bm", BM);
  I32(3, "bi", BI);
  INT(4, "W", W);
  F32(5, "out", OUT);
  INT(6, "at", at);
  NEED(AI.length == BI.length, "ai and bi differ in length");
  NEED(OUT.length >= at + AI.length, "out is too short");
  int64_t RA = W == 0 ? 0 : (int64_t)(A.length / W), RB = W == 0 ? 0 : (int64_t)(BM.length / W);
  const int32_t *ai = AI.data, *bi = BI.data;
  for (size_t n = 0; n < AI.length; n++) NEED(ai[n] >= 0 && ai[n] < RA && bi[n] >= 0 && bi[n] < RB, "a row index is out of range");
  const float *a = A.data, *bm = BM.data;
  float *out = (float *)OUT.data + at;
  int64_t N = (int64_t)AI.length;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) out[n] = row_dot(a + (int64_t)ai[n] * W, bm + (int64_t)bi[n] * W, W);
  return undefined(env);
}

/*
 * scatterByFeature(start, order, rows, cols, vals, g, nMain, D, Daux, x, W, dWd, dWeT):
 * for the entries of feature j (order[start[j] .. start[j+1])): dWd[j] += vals_n · D'[rows_n]
 * (D' = D for n < nMain, Daux after) and dWeT[j] += g_n · x[rows_n]. Threads own features.
 */
#undef FN
#define FN "scatterByFeature"
static napi_value scatter_by_feature(napi_env env, napi_callback_info info) {
  ARGS(13);
  I32(0, "start", ST);
  I32(1, "order", OR);
  I32(2, "rows", RO);
  I32(3, "cols", CO);
  F32(4, "vals", VA);
  F32(5, "g", G);
  INT(6, "nMain", nMain);
  F32(7, "D", D);
  OPT_F32(8, "Daux", DA, hasAux);
  F32(9, "x", X);
  INT(10, "W", W);
  F32(11, "dWd", DWD);
  F32(12, "dWeT", DWE);
  NEED(ST.length >= 1, "start is empty");
  int64_t F = (int64_t)ST.length - 1;
  size_t n = OR.length;
  NEED(RO.length == n && CO.length == n && VA.length == n && G.length == n, "order/rows/cols/vals/g lengths disagree");
  NEED(DWD.length >= (size_t)(F * W) && DWE.length >= (size_t)(F * W), "dWd/dWeT are shorter than F × W");
  const int32_t *start = ST.data, *order = OR.data, *rows = RO.data;
  NEED(start[0] == 0 && (size_t)start[F] == n, "start does not cover order");
  int64_t RB = W == 0 ? 0 : (int64_t)(X.length / W);
  for (size_t s = 0; s < n; s++) {
    NEED(order[s] >= 0 && (size_t)order[s] < n, "order has an index out of range");
    int32_t e = order[s];
    NEED(rows[e] >= 0 && rows[e] < RB, "a row index is outside x");
    NEED((int64_t)D.length >= (int64_t)(rows[e] + 1) * W || e >= nMain, "a row index is outside D");
    NEED(e < nMain || (hasAux && (int64_t)DA.length >= (int64_t)(rows[e] + 1) * W), "an aux entry has no Daux row");
  }
  const float *vals = VA.data, *g = G.data, *d = D.data, *da = hasAux ? DA.data : NULL, *x = X.data;
  float *dwd = DWD.data, *dwe = DWE.data;
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t j = 0; j < F; j++) {
    float *o1 = dwd + j * W, *o2 = dwe + j * W;
    for (int32_t s = start[j]; s < start[j + 1]; s++) {
      int32_t e = order[s];
      const float *src = (e < nMain ? d : da) + (int64_t)rows[e] * W;
      const float *xr = x + (int64_t)rows[e] * W;
      const float v = vals[e], gn = g[e];
      for (int64_t r = 0; r < W; r++) {
        o1[r] += v * src[r];
        o2[r] += gn * xr[r];
      }
    }
  }
  return undefined(env);
}

/* transpose(a, R, C, out): out[c·R + r] = a[r·C + c]. */
#undef FN
#define FN "transpose"
static napi_value transpose(napi_env env, napi_callback_info info) {
  ARGS(4);
  F32(0, "a", A);
  INT(1, "R", R);
  INT(2, "C", C);
  F32(3, "out", OUT);
  NEED(A.length >= (size_t)(R * C) && OUT.length >= (size_t)(R * C), "a/out are shorter than R × C");
  const float *a = A.data;
  float *out = OUT.data;
  const int64_t T = 32;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < C; c0 += T) {
    int64_t c1 = c0 + T < C ? c0 + T : C;
    for (int64_t r0 = 0; r0 < R; r0 += T) {
      int64_t r1 = r0 + T < R ? r0 + T : R;
      for (int64_t r = r0; r < r1; r++)
        for (int64_t c = c0; c < c1; c++) out[c * R + r] = a[r * C + c];
    }
  }
  return undefined(env);
}

/* ---------------------------------------------------------------- Adam */

/*
 * adam(w, g | undefined, m, v, b1, b2, stepSize, sqrtBc2, eps, gradScale): PyTorch's Adam on one
 * parameter, as packages/crosscoder's Adam.update: moments rounded to float32, update in double.
 */
#undef FN
#define FN "adam"
static napi_value adam(napi_env env, napi_callback_info info) {
  ARGS(10);
  F32(0, "w", Wt);
  OPT_F32(1, "g", Gr, hasG);
  F32(2, "m", Mm);
  F32(3, "v", Vv);
  NUM(4, "b1", b1);
  NUM(5, "b2", b2);
  NUM(6, "stepSize", stepSize);
  NUM(7, "sqrtBc2", sqrtBc2);
  NUM(8, "eps", eps);
  NUM(9, "gradScale", gs);
  size_t n = Wt.length;
  NEED(Mm.length == n && Vv.length == n && (!hasG || Gr.length == n), "w, g, m and v differ in length");
  float *w = Wt.data, *m = Mm.data, *v = Vv.data;
  const float *g = hasG ? Gr.data : NULL;
  const double c1 = 1 - b1, c2 = 1 - b2;
  /* two loops without a branch inside, so that they vectorise (with -fno-math-errno, sqrt is one
     instruction); the arithmetic is the same */
  if (g != NULL) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)n; i++) {
      const double gi = (double)g[i] * gs;
      const float mi = (float)(b1 * m[i] + c1 * gi);
      const float vi = (float)(b2 * v[i] + c2 * gi * gi);
      m[i] = mi;
      v[i] = vi;
      w[i] = (float)(w[i] - (stepSize * mi) / (sqrt((double)vi) / sqrtBc2 + eps));
    }
  } else {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < (int64_t)n; i++) {
      const float mi = (float)(b1 * m[i] + c1 * 0.0);
      const float vi = (float)(b2 * v[i] + c2 * 0.0 * 0.0);
      m[i] = mi;
      v[i] = vi;
      w[i] = (float)(w[i] - (stepSize * mi) / (sqrt((double)vi) / sqrtBc2 + eps));
    }
  }
  return undefined(env);
}

/* sumSquares(a): Σ a_i² in double (per-thread partial sums added in thread order). */
#undef FN
#define FN "sumSquares"
static napi_value sum_squares(napi_env env, napi_callback_info info) {
  ARGS(1);
  F32(0, "a", A);
  const float *a = A.data;
  double s = 0;
  for (size_t i = 0; i < A.length; i++) s += (double)a[i] * a[i];
  napi_value r;
  napi_create_double(env, s, &r);
  return r;
}



/* ---------------------------------------------------------------- fused sparse-step kernels */

/*
 * encodeTopK(x, We, be, B, W, F, k, pre, values, indices): pre = relu(x·We + be) ([B, F]: one
 * sgemm, then bias and relu in place — the arithmetic of the native backend's fused matMul, so the
 * pre-activations are bit-identical to the dense step's) and, per row, its k largest values and
 * their indices in tf.topk's order (as topkRows). Bias, relu and selection run in one pass per row.
 */
#undef FN
#define FN "encodeTopK"
static napi_value encode_topk(napi_env env, napi_callback_info info) {
  ARGS(10);
  F32(0, "x", X);
  F32(1, "We", WE);
  F32(2, "be", BE);
  INT(3, "B", B);
  INT(4, "W", W);
  INT(5, "F", F);
  INT(6, "k", k);
  F32(7, "pre", PRE);
  F32(8, "values", V);
  I32(9, "indices", IX);
  NEED(k >= 1 && k <= F, "k must be in [1, F]");
  NEED(X.length >= (size_t)(B * W), "x is shorter than B × W");
  NEED(WE.length >= (size_t)(W * F), "We is shorter than W × F");
  NEED(BE.length >= (size_t)F, "be is shorter than F");
  NEED(PRE.length >= (size_t)(B * F), "pre is shorter than B × F");
  NEED(V.length >= (size_t)(B * k) && IX.length >= (size_t)(B * k), "values/indices are shorter than B × k");
  if (B == 0) return undefined(env);
  float *pre = PRE.data;
  const float *be = BE.data;
  if (W == 0) memset(pre, 0, (size_t)(B * F) * sizeof(float));
  else
    crosscode_gemm(0, 0, B, F, W, X.data, WE.data, 0.0f, pre); /* as gemmBatched: the dense step's product */
  float *vals = V.data;
  int32_t *idx = IX.data;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < B; r++) {
    float *row = pre + r * F;
    for (int64_t j = 0; j < F; j++) {
      const float y = row[j] + be[j];
      row[j] = y < 0 ? 0.0f : y;
    }
    topk_row(row, F, (int)k, vals + r * k, idx + r * k);
  }
  return undefined(env);
}

/*
 * decodeLoss(rowPtr, cols, vals, Wd, bdec, x, W, S, kind, E, dXhat, dbd[, dots]): the reconstruction
 * error E = (b_dec + Σ v·W_dec[j]) − x per row (float32, entry order, as csrDecode), the loss
 * gradient dXhat (kind 0 mse: 2E/(B·W); 1 sse: 2E/B; 2 l2: E/(‖E_bs‖·B·S) per source block of
 * W/S) and dbd = Σ_b dXhat_b (float32, rows in order). With `dots`, also dots[n] = dXhat_b ·
 * W_dec[cols[n]] for every entry (rowDots' arithmetic), while those rows are in cache.
 * Returns [Σ E² (float64), Σ_bs ‖E_bs‖].
 */
#undef FN
#define FN "decodeLoss"
static napi_value decode_loss(napi_env env, napi_callback_info info) {
  ARGS_MIN(13, 12);
  I32(0, "rowPtr", RP);
  I32(1, "cols", CO);
  F32(2, "vals", VA);
  F32(3, "Wd", WD);
  F32(4, "bdec", BD);
  F32(5, "x", X);
  INT(6, "W", W);
  INT(7, "S", S);
  INT(8, "kind", kind);
  F32(9, "E", EE);
  F32(10, "dXhat", DX);
  F32(11, "dbd", DBD);
  OPT_F32(12, "dots", DOTS, hasDots);
  NEED(RP.length >= 1, "rowPtr is empty");
  NEED(kind <= 2, "kind must be 0 (mse), 1 (sse) or 2 (l2)");
  NEED(S >= 1 && W % S == 0, "W must be a multiple of S");
  const int64_t B = (int64_t)RP.length - 1;
  const int32_t *rp = RP.data, *cols = CO.data;
  NEED(rp[0] == 0 && rp[B] >= 0 && (size_t)rp[B] <= CO.length && CO.length == VA.length, "rowPtr/cols/vals lengths disagree");
  for (int64_t b = 0; b < B; b++) NEED(rp[b + 1] >= rp[b], "rowPtr is not ascending");
  NEED(X.length >= (size_t)(B * W) && EE.length >= (size_t)(B * W) && DX.length >= (size_t)(B * W),
       "x/E/dXhat are shorter than rows × W");
  NEED(BD.length >= (size_t)W && DBD.length >= (size_t)W, "bdec/dbd are shorter than W");
  const int64_t F = W == 0 ? 0 : (int64_t)(WD.length / W);
  for (int32_t n = 0; n < rp[B]; n++) NEED(cols[n] >= 0 && cols[n] < F, "a column index is outside Wd");
  NEED(!hasDots || DOTS.length >= (size_t)rp[B], "dots is shorter than the entries");
  const float *vals = VA.data, *wd = WD.data, *bd = BD.data, *x = X.data;
  float *E = EE.data, *dx = DX.data, *dbd = DBD.data, *dots = hasDots ? DOTS.data : NULL;
  const int64_t d = W / S;
  double *rowSq = malloc(sizeof(double) * (size_t)(B > 0 ? B : 1));
  double *rowNorm = malloc(sizeof(double) * (size_t)(B > 0 ? B : 1));
  if (rowSq == NULL || rowNorm == NULL) {
    free(rowSq);
    free(rowNorm);
    return throw_range(env, FN, "out of memory");
  }
  const double cm = kind == 0 ? 2.0 / (double)(B * W) : 2.0 / (double)B;
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < B; b++) {
    float *o = E + b * W;
    memcpy(o, bd, (size_t)W * sizeof(float));
    for (int32_t n = rp[b]; n < rp[b + 1]; n++) {
      const float v = vals[n];
      const float *w = wd + (int64_t)cols[n] * W;
      if (n + 1 < rp[B]) /* the next entry's W_dec row is a random row: ask for it now */
        for (int64_t r = 0; r < W; r += 16) __builtin_prefetch(wd + (int64_t)cols[n + 1] * W + r);
      for (int64_t r = 0; r < W; r++) o[r] += v * w[r];
    }
    const float *xr = x + b * W;
    double sq = 0;
    for (int64_t r = 0; r < W; r++) {
      o[r] -= xr[r];
      sq += (double)o[r] * o[r];
    }
    rowSq[b] = sq;
    float *g = dx + b * W;
    if (kind != 2) {
      for (int64_t r = 0; r < W; r++) g[r] = (float)(cm * o[r]);
      rowNorm[b] = 0;
    } else {
      double tot = 0;
      for (int64_t s = 0; s < S; s++) {
        double acc = 0;
        for (int64_t i = 0; i < d; i++) acc += (double)o[s * d + i] * o[s * d + i];
        const double nn = sqrt(acc);
        tot += nn;
        const double c = nn > 0 ? 1.0 / (nn * (double)B * (double)S) : 0.0;
        for (int64_t i = 0; i < d; i++) g[s * d + i] = (float)(c * o[s * d + i]);
      }
      rowNorm[b] = tot;
    }
    /* ∂v for this row's entries while their W_dec rows are still in cache (= rowDots) */
    if (dots != NULL)
      for (int32_t n = rp[b]; n < rp[b + 1]; n++) dots[n] = row_dot(g, wd + (int64_t)cols[n] * W, W);
  }
  /* Σ_b dXhat_b per column, rows in order (threads own column blocks) */
#pragma omp parallel for schedule(static)
  for (int64_t r0 = 0; r0 < W; r0 += 64) {
    const int64_t r1 = r0 + 64 < W ? r0 + 64 : W;
    float acc[64];
    for (int64_t r = r0; r < r1; r++) acc[r - r0] = 0;
    for (int64_t b = 0; b < B; b++)
      for (int64_t r = r0; r < r1; r++) acc[r - r0] += dx[b * W + r];
    for (int64_t r = r0; r < r1; r++) dbd[r] = acc[r - r0];
  }
  double sq = 0, nt = 0;
  for (int64_t b = 0; b < B; b++) {
    sq += rowSq[b];
    nt += rowNorm[b];
  }
  free(rowSq);
  free(rowNorm);
  napi_value out, e0, e1;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, sq, &e0);
  napi_create_double(env, nt, &e1);
  napi_set_element(env, out, 0, e0);
  napi_set_element(env, out, 1, e1);
  return out;
}

/*
 * scatterByFeatureT(start, order, rows, vals, g, nMain, D, Daux, x, W, dWd, dWe): as
 * scatterByFeature, but ∂W_enc is written as dWe [W, F] (x's width × features) directly: threads own
 * blocks of 16 features, sum their rows of ∂W_encᵀ in a local buffer (same order of terms) and
 * write it transposed, one cache line per row of dWe. dWd and dWe are overwritten.
 */
#undef FN
#define FN "scatterByFeatureT"
static napi_value scatter_by_feature_t(napi_env env, napi_callback_info info) {
  ARGS(12);
  I32(0, "start", ST);
  I32(1, "order", OR);
  I32(2, "rows", RO);
  F32(3, "vals", VA);
  F32(4, "g", G);
  INT(5, "nMain", nMain);
  F32(6, "D", D);
  OPT_F32(7, "Daux", DA, hasAux);
  F32(8, "x", X);
  INT(9, "W", W);
  F32(10, "dWd", DWD);
  F32(11, "dWe", DWE);
  NEED(ST.length >= 1, "start is empty");
  const int64_t F = (int64_t)ST.length - 1;
  const size_t n = OR.length;
  NEED(RO.length == n && VA.length == n && G.length == n, "order/rows/vals/g lengths disagree");
  NEED(DWD.length >= (size_t)(F * W) && DWE.length >= (size_t)(F * W), "dWd/dWe are shorter than F × W");
  const int32_t *start = ST.data, *order = OR.data, *rows = RO.data;
  NEED(start[0] == 0 && (size_t)start[F] == n, "start does not cover order");
  for (int64_t j = 0; j < F; j++) NEED(start[j + 1] >= start[j], "start is not ascending");
  const int64_t RB = W == 0 ? 0 : (int64_t)(X.length / W);
  for (size_t s = 0; s < n; s++) {
    NEED(order[s] >= 0 && (size_t)order[s] < n, "order has an index out of range");
    int32_t e = order[s];
    NEED(rows[e] >= 0 && rows[e] < RB, "a row index is outside x");
    NEED((int64_t)D.length >= (int64_t)(rows[e] + 1) * W || e >= nMain, "a row index is outside D");
    NEED(e < nMain || (hasAux && (int64_t)DA.length >= (int64_t)(rows[e] + 1) * W), "an aux entry has no Daux row");
  }
  if (F == 0 || W == 0) return undefined(env);
  const float *vals = VA.data, *g = G.data, *d = D.data, *da = hasAux ? DA.data : NULL, *x = X.data;
  float *dwd = DWD.data, *dwe = DWE.data;
  const int64_t TB = 32;
  int failed = 0;
#pragma omp parallel
  {
    float *buf = malloc(sizeof(float) * (size_t)(TB * W));
    if (buf == NULL) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp for schedule(dynamic, 4)
    for (int64_t j0 = 0; j0 < F; j0 += TB) {
      if (buf == NULL) continue;
      const int64_t j1 = j0 + TB < F ? j0 + TB : F;
      for (int64_t j = j0; j < j1; j++) {
        float *o1 = dwd + j * W, *o2 = buf + (j - j0) * W;
        memset(o1, 0, (size_t)W * sizeof(float));
        memset(o2, 0, (size_t)W * sizeof(float));
        for (int32_t s = start[j]; s < start[j + 1]; s++) {
          const int32_t e = order[s];
          const float *src = (e < nMain ? d : da) + (int64_t)rows[e] * W;
          const float *xr = x + (int64_t)rows[e] * W;
          if (s + 1 < (int32_t)n) {
            /* the next entry's rows are random rows of D and x: ask for them while this one adds */
            const int32_t e2 = order[s + 1];
            const float *src2 = (e2 < nMain ? d : da) + (int64_t)rows[e2] * W, *xr2 = x + (int64_t)rows[e2] * W;
            for (int64_t r = 0; r < W; r += 16) {
              __builtin_prefetch(src2 + r);
              __builtin_prefetch(xr2 + r);
            }
          }
          const float v = vals[e], gn = g[e];
          for (int64_t r = 0; r < W; r++) {
            o1[r] += v * src[r];
            o2[r] += gn * xr[r];
          }
        }
      }
      const int64_t nj = j1 - j0;
      for (int64_t r = 0; r < W; r++) {
        float *o = dwe + r * F + j0;
        for (int64_t jj = 0; jj < nj; jj++) o[jj] = buf[jj * W + r];
      }
    }
    free(buf);
  }
  if (failed) return throw_range(env, FN, "out of memory");
  return undefined(env);
}

/*
 * entryStats(cols, vals, g, weights, coefs, B, F, termValues, dbe, fired, start, order): the sparse
 * step's per-entry bookkeeping between decodeLoss and scatterByFeatureT, in one pass over the n
 * entries (TypeScript loops before: ~0.8 ms once optimised, and several ms in the first steps while
 * V8 compiled them on a core OpenBLAS wanted), with the TypeScript arithmetic:
 *   termValues[t] = Σ_n weights[t·F + cols[n]] · vals[n] (float64, entry order), t < T = coefs.length;
 *   g[n] += Σ_{t: coefs[t] ≠ 0} coefs[t] · weights[t·F + j] / B   (the L1 terms' ∂, float64 then
 *           rounded; untouched when every coefficient is 0);
 *   dbe[j] = Σ_n g[n] over the entries of feature j (float32, entry order); fired[j] = their count;
 *   start / order: the entries grouped by feature (counting sort, stable), as scatterByFeatureT reads.
 */
#undef FN
#define FN "entryStats"
static napi_value entry_stats(napi_env env, napi_callback_info info) {
  ARGS(12);
  I32(0, "cols", CO);
  F32(1, "vals", VA);
  F32(2, "g", G);
  F32(3, "weights", WT);
  F64(4, "coefs", CF);
  INT(5, "B", B);
  INT(6, "F", F);
  F64(7, "termValues", TV);
  F32(8, "dbe", DBE);
  F32(9, "fired", FI);
  I32(10, "start", ST);
  I32(11, "order", OR);
  const size_t n = CO.length;
  const int64_t T = (int64_t)CF.length;
  NEED(VA.length == n && G.length >= n && OR.length >= n, "vals/g/order are shorter than cols");
  NEED(WT.length >= (size_t)(T * F), "weights are shorter than coefs.length × F");
  NEED(TV.length >= (size_t)T, "termValues is shorter than coefs");
  NEED(DBE.length >= (size_t)F && FI.length >= (size_t)F && ST.length >= (size_t)(F + 1), "dbe/fired/start are shorter than F");
  NEED(B >= 1, "B must be at least 1");
  const int32_t *cols = CO.data;
  for (size_t e = 0; e < n; e++) NEED(cols[e] >= 0 && cols[e] < F, "a column index is outside [0, F)");
  const float *vals = VA.data, *w = WT.data;
  const double *coefs = CF.data;
  float *g = G.data, *dbe = DBE.data, *fired = FI.data;
  double *tv = TV.data;
  int32_t *start = ST.data, *order = OR.data;
  for (int64_t t = 0; t < T; t++) {
    const float *wt = w + t * F;
    double acc = 0;
    for (size_t e = 0; e < n; e++) acc += (double)wt[cols[e]] * (double)vals[e];
    tv[t] = acc;
  }
  int any = 0;
  for (int64_t t = 0; t < T; t++) any |= coefs[t] != 0;
  double *l1 = NULL;
  if (any) {
    l1 = calloc((size_t)(F > 0 ? F : 1), sizeof(double));
    if (l1 == NULL) return throw_range(env, FN, "out of memory");
    for (int64_t t = 0; t < T; t++) {
      if (coefs[t] == 0) continue;
      const float *wt = w + t * F;
      for (int64_t j = 0; j < F; j++) l1[j] = l1[j] + (coefs[t] * (double)wt[j]) / (double)B;
    }
  }
  memset(dbe, 0, sizeof(float) * (size_t)F);
  memset(fired, 0, sizeof(float) * (size_t)F);
  memset(start, 0, sizeof(int32_t) * (size_t)(F + 1));
  for (size_t e = 0; e < n; e++) {
    const int32_t j = cols[e];
    if (l1 != NULL) g[e] = (float)((double)g[e] + l1[j]);
    dbe[j] = (float)((double)dbe[j] + (double)g[e]);
    fired[j] += 1.0f;
    start[j + 1]++;
  }
  free(l1);
  for (int64_t j = 0; j < F; j++) start[j + 1] += start[j];
  /* stable placement: the next free slot of feature j is start[j] + (entries of j seen so far) */
  int32_t *pos = malloc(sizeof(int32_t) * (size_t)(F > 0 ? F : 1));
  if (pos == NULL) return throw_range(env, FN, "out of memory");
  memcpy(pos, start, sizeof(int32_t) * (size_t)F);
  for (size_t e = 0; e < n; e++) order[pos[cols[e]]++] = (int32_t)e;
  free(pos);
  return undefined(env);
}

/*
 * sumSquaresBlocked(a): Σ a_i² in float64 over fixed blocks of 2¹⁶ (each block with 4 interleaved
 * partial sums), block sums added in order: the same result for every thread count.
 */
#undef FN
#define FN "sumSquaresBlocked"
static napi_value sum_squares_blocked(napi_env env, napi_callback_info info) {
  ARGS(1);
  F32(0, "a", A);
  const float *a = A.data;
  const int64_t n = (int64_t)A.length, BS = 65536, nb = (n + BS - 1) / BS;
  double *part = malloc(sizeof(double) * (size_t)(nb > 0 ? nb : 1));
  if (part == NULL) return throw_range(env, FN, "out of memory");
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t blk = 0; blk < nb; blk++) {
    const int64_t i0 = blk * BS, i1 = i0 + BS < n ? i0 + BS : n;
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = i0;
    for (; i + 3 < i1; i += 4) {
      s0 += (double)a[i] * a[i];
      s1 += (double)a[i + 1] * a[i + 1];
      s2 += (double)a[i + 2] * a[i + 2];
      s3 += (double)a[i + 3] * a[i + 3];
    }
    for (; i < i1; i++) s0 += (double)a[i] * a[i];
    part[blk] = (s0 + s1) + (s2 + s3);
  }
  double s = 0;
  for (int64_t blk = 0; blk < nb; blk++) s += part[blk];
  free(part);
  napi_value r;
  napi_create_double(env, s, &r);
  return r;
}

/* ---------------------------------------------------------------- elementwise */


enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_SQDIFF };

#define BIN_CASE(OPC, EXPR)                                                                       \
  case OPC:                                                                                       \
    _Pragma("omp parallel for collapse(2) schedule(static) if (n >= PAR_MIN)")                   \
    for (int64_t i = 0; i < d0; i++)                                                              \
      for (int64_t j = 0; j < d1; j++) {                                                          \
        const float *pa = a + i * sa0 + j * sa1, *pb = b + i * sb0 + j * sb1;                     \
        float *po = out + (i * d1 + j) * d2;                                                      \
        if (sa2 == 1 && sb2 == 1)                                                                 \
          for (int64_t k = 0; k < d2; k++) { const float x = pa[k], y = pb[k]; po[k] = (EXPR); } \
        else if (sa2 == 1)                                                                        \
          for (int64_t k = 0; k < d2; k++) { const float x = pa[k], y = pb[0]; po[k] = (EXPR); } \
        else if (sb2 == 1)                                                                        \
          for (int64_t k = 0; k < d2; k++) { const float x = pa[0], y = pb[k]; po[k] = (EXPR); } \
        else                                                                                      \
          for (int64_t k = 0; k < d2; k++) { const float x = pa[0], y = pb[0]; po[k] = (EXPR); } \
      }                                                                                           \
    break;

/*
 * binary(op, a, b, out, d0, d1, d2, sa0, sa1, sa2, sb0, sb1, sb2): out[i,j,k] = a[i·sa0 + j·sa1 +
 * k·sa2] op b[…] over a [d0, d1, d2] output (strides 0 broadcast; sa2, sb2 ∈ {0, 1}).
 * op: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 squared difference.
 */
#undef FN
#define FN "binary"
static napi_value binary(napi_env env, napi_callback_info info) {
  ARGS(13);
  INT(0, "op", op);
  F32(1, "a", A);
  F32(2, "b", Bb);
  F32(3, "out", OUT);
  INT(4, "d0", d0);
  INT(5, "d1", d1);
  INT(6, "d2", d2);
  INT(7, "sa0", sa0);
  INT(8, "sa1", sa1);
  INT(9, "sa2", sa2);
  INT(10, "sb0", sb0);
  INT(11, "sb1", sb1);
  INT(12, "sb2", sb2);
  const int64_t n = d0 * d1 * d2;
  NEED(sa2 <= 1 && sb2 <= 1, "innermost strides must be 0 or 1");
  NEED(OUT.length >= (size_t)n, "out is too short");
  if (n == 0) return undefined(env);
  NEED((int64_t)A.length > (d0 - 1) * sa0 + (d1 - 1) * sa1 + (d2 - 1) * sa2, "a is too short for its strides");
  NEED((int64_t)Bb.length > (d0 - 1) * sb0 + (d1 - 1) * sb1 + (d2 - 1) * sb2, "b is too short for its strides");
  const float *a = A.data, *b = Bb.data;
  float *out = OUT.data;
  switch (op) {
    BIN_CASE(OP_ADD, x + y)
    BIN_CASE(OP_SUB, x - y)
    BIN_CASE(OP_MUL, x * y)
    BIN_CASE(OP_DIV, x / y)
    BIN_CASE(OP_MAX, (x > y || isnan(x)) ? x : y)
    BIN_CASE(OP_MIN, (x < y || isnan(x)) ? x : y)
    BIN_CASE(OP_SQDIFF, (x - y) * (x - y))
    default:
      return throw_range(env, FN, "unknown op");
  }
  return undefined(env);
}

enum { U_RELU, U_EXP, U_SIGMOID, U_RSQRT, U_SQUARE, U_NEG, U_SQRT, U_ABS };

#define UN_CASE(OPC, EXPR)                                                        \
  case OPC:                                                                       \
    _Pragma("omp parallel for schedule(static) if (n >= PAR_MIN)")               \
    for (int64_t i = 0; i < n; i++) { const float x = a[i]; out[i] = (EXPR); }    \
    break;

/* unary(op, x, out): 0 relu, 1 exp, 2 sigmoid, 3 rsqrt, 4 square, 5 neg, 6 sqrt, 7 abs. */
#undef FN
#define FN "unary"
static napi_value unary(napi_env env, napi_callback_info info) {
  ARGS(3);
  INT(0, "op", op);
  F32(1, "x", X);
  F32(2, "out", OUT);
  NEED(OUT.length >= X.length, "out is shorter than x");
  const int64_t n = (int64_t)X.length;
  const float *a = X.data;
  float *out = OUT.data;
  switch (op) {
    UN_CASE(U_RELU, x < 0 ? 0.0f : x) /* NaN stays NaN, as tf.relu */
    UN_CASE(U_EXP, (float)exp((double)x))
    UN_CASE(U_SIGMOID, (float)(1.0 / (1.0 + exp(-(double)x))))
    UN_CASE(U_RSQRT, (float)(1.0 / sqrt((double)x)))
    UN_CASE(U_SQUARE, x * x)
    UN_CASE(U_NEG, -x)
    UN_CASE(U_SQRT, (float)sqrt((double)x))
    UN_CASE(U_ABS, fabsf(x))
    default:
      return throw_range(env, FN, "unknown op");
  }
  return undefined(env);
}


/* ---------------------------------------------------------------- layout and softmax */

/*
 * stridedCopy(src, srcOffset, srcStrides, dst, dstOffset, dstStrides, shape): for every index i of
 * `shape` (≤ 8 dims; strides and offsets in elements, as Float64Arrays),
 * dst[dstOffset + Σ i_d·dstStrides_d] = src[srcOffset + Σ i_d·srcStrides_d]: transpose, slice and
 * concatenation as one copy kernel (float32 or int32 data).
 */
#undef FN
#define FN "stridedCopy"
static int get_f64arr(napi_env env, napi_value v, const double **data, size_t *n) {
  Arr a;
  if (!get_arr(env, v, napi_float64_array, &a)) return 0;
  *data = a.data;
  *n = a.length;
  return 1;
}

static napi_value strided_copy(napi_env env, napi_callback_info info) {
  ARGS(7);
  Arr S, D;
  bool is;
  /* float32 or int32 data: both 4 bytes */
  if (napi_is_typedarray(env, argv[0], &is) != napi_ok || !is) return throw_range(env, FN, "src must be a Float32Array or Int32Array");
  {
    napi_value ab; size_t off;
    napi_get_typedarray_info(env, argv[0], &S.type, &S.length, &S.data, &ab, &off);
    napi_get_typedarray_info(env, argv[3], &D.type, &D.length, &D.data, &ab, &off);
  }
  NEED((S.type == napi_float32_array || S.type == napi_int32_array) && D.type == S.type, "src and dst must both be Float32Arrays or both Int32Arrays");
  INT(1, "srcOffset", srcOff);
  INT(4, "dstOffset", dstOff);
  const double *ss, *ds, *sh;
  size_t nss, nds, nsh;
  if (!get_f64arr(env, argv[2], &ss, &nss) || !get_f64arr(env, argv[5], &ds, &nds) || !get_f64arr(env, argv[6], &sh, &nsh))
    return throw_range(env, FN, "strides and shape must be Float64Arrays");
  NEED(nsh >= 1 && nsh <= 8 && nss == nsh && nds == nsh, "shape and strides must have the same length, 1..8");
  int64_t shape[8], sst[8], dst_[8];
  int64_t total = 1, smax = srcOff, dmax = dstOff;
  for (size_t d = 0; d < nsh; d++) {
    shape[d] = (int64_t)sh[d];
    sst[d] = (int64_t)ss[d];
    dst_[d] = (int64_t)ds[d];
    NEED(shape[d] >= 0 && sst[d] >= 0 && dst_[d] >= 0, "shape and strides must be non-negative");
    total *= shape[d];
    if (shape[d] > 0) {
      smax += (shape[d] - 1) * sst[d];
      dmax += (shape[d] - 1) * dst_[d];
    }
  }
  if (total == 0) return undefined(env);
  NEED((size_t)smax < S.length, "src is too short for its offset and strides");
  NEED((size_t)dmax < D.length, "dst is too short for its offset and strides");
  const int nd = (int)nsh;
  const int64_t inner = shape[nd - 1], si = sst[nd - 1], di = dst_[nd - 1];
  const int64_t rows = total / inner;
  const uint32_t *src = (const uint32_t *)S.data + srcOff;
  uint32_t *dst = (uint32_t *)D.data + dstOff;
#pragma omp parallel for schedule(static) if (total >= PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t rem = r, so = 0, dofs = 0;
    for (int d = nd - 2; d >= 0; d--) {
      const int64_t i = rem % shape[d];
      rem /= shape[d];
      so += i * sst[d];
      dofs += i * dst_[d];
    }
    const uint32_t *a = src + so;
    uint32_t *b = dst + dofs;
    if (si == 1 && di == 1) memcpy(b, a, (size_t)inner * 4);
    else
      for (int64_t j = 0; j < inner; j++) b[j * di] = a[j * si];
  }
  return undefined(env);
}

/*
 * softmaxRows(x, rows, cols, out): per row, exp(x − max) / Σ exp(x − max), the arithmetic of
 * tfjs-backend-cpu's Softmax (float32 difference, exp in float64 rounded to float32, float64 sum
 * rounded to float32, float32 quotient).
 */
#undef FN
#define FN "softmaxRows"
static napi_value softmax_rows(napi_env env, napi_callback_info info) {
  ARGS(4);
  F32(0, "x", X);
  INT(1, "rows", R);
  INT(2, "cols", C);
  F32(3, "out", OUT);
  NEED(X.length >= (size_t)(R * C) && OUT.length >= (size_t)(R * C), "x/out are shorter than rows × cols");
  const float *x = X.data;
  float *out = OUT.data;
#pragma omp parallel for schedule(static) if (R * C >= PAR_MIN)
  for (int64_t r = 0; r < R; r++) {
    const float *a = x + r * C;
    float *o = out + r * C;
    float m = -INFINITY;
    for (int64_t j = 0; j < C; j++)
      if (a[j] > m || isnan(a[j])) m = a[j];
    double sum = 0;
    for (int64_t j = 0; j < C; j++) {
      o[j] = (float)exp((double)(a[j] - m));
      sum += o[j];
    }
    const float sf = (float)sum;
    for (int64_t j = 0; j < C; j++) o[j] = o[j] / sf;
  }
  return undefined(env);
}

/* ---------------------------------------------------------------- bf16 */

/* bf16ToF32(bits: Uint16Array, out: Float32Array): exact widening. */
#undef FN
#define FN "bf16ToF32"
static napi_value bf16_to_f32(napi_env env, napi_callback_info info) {
  ARGS(2);
  Arr S;
  if (!get_arr(env, argv[0], napi_uint16_array, &S)) return throw_range(env, FN, "bits must be a Uint16Array");
  F32(1, "out", OUT);
  NEED(OUT.length >= S.length, "out is shorter than bits");
  const uint16_t *s = S.data;
  uint32_t *o = OUT.data;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < (int64_t)S.length; i++) o[i] = (uint32_t)s[i] << 16;
  return undefined(env);
}


/*
 * keepFreedMemory(mmapMax): glibc only. Large blocks (Float32Arrays of tensors) normally come
 * from mmap and go back to the kernel when freed, so every new tensor page-faults on first write
 * (on some VMs ~10 µs per 4 KiB page: more than the arithmetic of an elementwise op). With the
 * mmap threshold at its maximum (32 MiB) and no trimming, freed blocks stay in the heap and are
 * reused; mmapMax = 0 also serves larger blocks from the heap. Returns false where not glibc.
 */
#undef FN
#define FN "keepFreedMemory"
static napi_value keep_freed_memory(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, "mmapMax", mmapMax);
  napi_value r;
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  if (mmapMax >= 0 && mmapMax < 65536) mallopt(M_MMAP_MAX, (int)mmapMax);
  napi_get_boolean(env, true, &r);
#else
  (void)mmapMax;
  napi_get_boolean(env, false, &r);
#endif
  return r;
}

/*
 * topkEntries(v, j, B, k, rowPtr, rows, cols, vals): the positive entries of per-row TopK results
 * (v, j: [B, k]) as CSR by row, in their order: rowPtr [B + 1], rows / cols / vals (room for
 * B·k). Returns the count. (NaN is not positive, as `!(v > 0)` in TypeScript.)
 */
#undef FN
#define FN "topkEntries"
static napi_value topk_entries(napi_env env, napi_callback_info info) {
  ARGS(8);
  F32(0, "v", VV);
  I32(1, "j", JJ);
  INT(2, "B", B);
  INT(3, "k", kk);
  I32(4, "rowPtr", RP);
  I32(5, "rows", RO);
  I32(6, "cols", CO);
  F32(7, "vals", VA);
  const int64_t n = B * kk;
  NEED(VV.length >= (size_t)n && JJ.length >= (size_t)n, "v/j are shorter than B × k");
  NEED(RP.length >= (size_t)(B + 1), "rowPtr is shorter than B + 1");
  NEED(RO.length >= (size_t)n && CO.length >= (size_t)n && VA.length >= (size_t)n, "rows/cols/vals are shorter than B × k");
  const float *v = VV.data;
  const int32_t *j = JJ.data;
  int32_t *rp = RP.data, *rows = RO.data, *cols = CO.data;
  float *vals = VA.data;
  int64_t at = 0;
  rp[0] = 0;
  for (int64_t b = 0; b < B; b++) {
    for (int64_t i = b * kk; i < (b + 1) * kk; i++) {
      if (!(v[i] > 0)) continue;
      rows[at] = (int32_t)b;
      cols[at] = j[i];
      vals[at] = v[i];
      at++;
    }
    rp[b + 1] = (int32_t)at;
  }
  napi_value r;
  napi_create_int64(env, at, &r);
  return r;
}

/* ---------------------------------------------------------------- module */

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gemmBatched", NULL, gemm_batched, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_threads, NULL, NULL, NULL, napi_enumerable, NULL},
      {"info", NULL, info_fn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"topkRows", NULL, topk_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"csrDecode", NULL, csr_decode, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rowDots", NULL, row_dots, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scatterByFeature", NULL, scatter_by_feature, NULL, NULL, NULL, napi_enumerable, NULL},
      {"transpose", NULL, transpose, NULL, NULL, NULL, napi_enumerable, NULL},
      {"adam", NULL, adam, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumSquares", NULL, sum_squares, NULL, NULL, NULL, napi_enumerable, NULL},
      {"binary", NULL, binary, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unary", NULL, unary, NULL, NULL, NULL, napi_enumerable, NULL},
      {"keepFreedMemory", NULL, keep_freed_memory, NULL, NULL, NULL, napi_enumerable, NULL},
      {"bf16ToF32", NULL, bf16_to_f32, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stridedCopy", NULL, strided_copy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"softmaxRows", NULL, softmax_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"encodeTopK", NULL, encode_topk, NULL, NULL, NULL, napi_enumerable, NULL},
      {"decodeLoss", NULL, decode_loss, NULL, NULL, NULL, napi_enumerable, NULL},
      {"scatterByFeatureT", NULL, scatter_by_feature_t, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sumSquaresBlocked", NULL, sum_squares_blocked, NULL, NULL, NULL, napi_enumerable, NULL},
      {"topkEntries", NULL, topk_entries, NULL, NULL, NULL, napi_enumerable, NULL},
      {"entryStats", NULL, entry_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rmsNormRows", NULL, rms_norm_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gatedActivation", NULL, gated_activation, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gatedMlp", NULL, gated_mlp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ropeRows", NULL, rope_rows, NULL, NULL, NULL, napi_enumerable, NULL},
      {"groupedAttention", NULL, grouped_attention, NULL, NULL, NULL, napi_enumerable, NULL},
      {"matmulBF16", NULL, matmul_bf16, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
