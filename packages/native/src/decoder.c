/*
 * Fused kernels of the decoder forward pass (inference, no gradient): RMSNorm, the gated MLP
 * activation, rotary embeddings and grouped-query attention, each one pass over its data where
 * tfjs composes 3–8 kernels with an allocation each; and a product with a bfloat16 [out, in]
 * weight (the LM head kept compact), widened as it streams. Results agree with the composite
 * tfjs ops to a few float32 ulp (exp is a vectorised float32 polynomial here, and reductions
 * run in another order), well within the golden tolerances.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "blas.h"
#include "decoder.h"
#include "napi_args.h"

/*
 * exp(x) in float32 as a loop the compiler vectorises (libm's expf is a call per element): x =
 * n·ln2 + r with |r| ≤ ln2/2, a degree-6 polynomial for exp(r) (Cephes' expf coefficients,
 * relative error ≲ 2 ulp), 2ⁿ through the exponent bits. Below −87.3 the result is 0, above
 * 88.7 +Inf, NaN stays NaN.
 */
static inline float exp_f32(float x) {
  const float hi = 88.7f, lo = -87.3f;
  float xc = x > hi ? hi : (x < lo ? lo : x);
  xc = xc == xc ? xc : 0.0f; /* NaN: any in-range exponent (the result is NaN below) */
  const float n = floorf(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = ((int32_t)n + 127) << 23;
  float two_n;
  memcpy(&two_n, &bits, sizeof two_n);
  float y = p * two_n;
  y = x < lo ? 0.0f : y;
  y = x > hi ? INFINITY : y;
  return x != x ? x : y;
}

/*
 * rmsNormRows(x, rows, cols, w, eps, out): out[r, c] = x[r, c] · rsqrt(mean_c(x²) + eps) · w[c]
 * (sum of squares in double; the scale rounded to float32 as tf.rsqrt's result is).
 */
#undef FN
#define FN "rmsNormRows"
napi_value rms_norm_rows(napi_env env, napi_callback_info info) {
  ARGS(6);
  F32(0, "x", X);
  INT(1, "rows", R);
  INT(2, "cols", C);
  F32(3, "w", W);
  NUM(4, "eps", eps);
  F32(5, "out", OUT);
  NEED(X.length >= (size_t)(R * C) && OUT.length >= (size_t)(R * C), "x/out are shorter than rows × cols");
  NEED(W.length >= (size_t)C, "w is shorter than cols");
  const float *x = X.data, *w = W.data;
  float *out = OUT.data;
  const float feps = (float)eps;
#pragma omp parallel for schedule(static) if (R * C >= PAR_MIN)
  for (int64_t r = 0; r < R; r++) {
    const float *a = x + r * C;
    float *o = out + r * C;
    double ss = 0;
#pragma omp simd reduction(+ : ss)
    for (int64_t c = 0; c < C; c++) ss += (double)(a[c] * a[c]);
    const float mean = (float)(ss / (double)C);
    const float inv = (float)(1.0 / sqrt((double)(mean + feps)));
    for (int64_t c = 0; c < C; c++) o[c] = (a[c] * inv) * w[c];
  }
  return undefined(env);
}

/* out = g · sigmoid(g) · u over one contiguous range (a plain loop, so that it vectorises). */
static void silu_mul(const float *g, const float *u, float *out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float s = 1.0f / (1.0f + exp_f32(-g[i]));
    out[i] = (g[i] * s) * u[i];
  }
}

/* out = act(g) · u over n values (kind 0 SiLU, 1 GELU-tanh), split over threads. */
static void gated_apply(int kind, const float *g, const float *u, float *out, int64_t n) {
  if (kind == 0) {
    const int64_t chunks = n >= PAR_MIN ? (n + 4095) / 4096 : 1;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; c++) {
      const int64_t from = c * n / chunks, to = (c + 1) * n / chunks;
      silu_mul(g + from, u + from, out + from, to - from);
    }
  } else {
    const float k0 = 0.7978845608028654f; /* sqrt(2 / pi) */
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
      const float x = g[i];
      const float t = tanhf((x + (x * x * x) * 0.044715f) * k0);
      out[i] = ((x * 0.5f) * (1.0f + t)) * u[i];
    }
  }
}

/*
 * gatedActivation(kind, gate, up, out): out = act(gate) · up; kind 0 = SiLU (g · sigmoid(g)),
 * 1 = GELU with the tanh approximation.
 */
#undef FN
#define FN "gatedActivation"
napi_value gated_activation(napi_env env, napi_callback_info info) {
  ARGS(4);
  INT(0, "kind", kind);
  F32(1, "gate", G);
  F32(2, "up", U);
  F32(3, "out", OUT);
  NEED(kind <= 1, "kind must be 0 (silu) or 1 (gelu-tanh)");
  NEED(U.length >= G.length && OUT.length >= G.length, "up/out are shorter than gate");
  gated_apply((int)kind, G.data, U.data, OUT.data, (int64_t)G.length);
  return undefined(env);
}

/* Rows per chunk of gatedMlp: M = 512 runs sgemm at its full rate and bounds the scratch. */
#define MLP_ROWS 512

/*
 * gatedMlp(kind, x, M, H, I, wGate, wUp, wDown, out[, rowsPerChunk]): the gated MLP of a decoder
 * block, out = (act(x·wGateᵀ) · (x·wUpᵀ))·wDownᵀ, with x [M, H], wGate / wUp [I, H] and wDown
 * [H, I] (Hugging Face's [out, in]) and out [M, H]. The two [rows, I] intermediates live in
 * scratch memory of this call, a chunk of rows at a time (512 unless rowsPerChunk says
 * otherwise), instead of three tensors of M × I: that is most of a block's allocation, and large
 * ArrayBuffers make V8 collect garbage (concurrently, on a core BLAS wants). The products and the
 * activation are the separate kernels' (crosscode_gemm, gated_apply), so in one chunk the result
 * is bit-identical to linear → gatedActivation → linear; over several it agrees to rounding
 * (OpenBLAS rounds the edges of a product by its row count). A chunk of one row would take
 * sgemv, so a single leftover row joins the chunk before it.
 */
#undef FN
#define FN "gatedMlp"
napi_value gated_mlp(napi_env env, napi_callback_info info) {
  ARGS_MIN(10, 9);
  INT(0, "kind", kind);
  F32(1, "x", X);
  INT(2, "M", M);
  INT(3, "H", H);
  INT(4, "I", In);
  F32(5, "wGate", WG);
  F32(6, "wUp", WU);
  F32(7, "wDown", WD);
  F32(8, "out", OUT);
  int64_t chunk = MLP_ROWS;
  napi_valuetype t9;
  napi_typeof(env, argv[9], &t9); /* undefined when not passed */
  if (t9 != napi_undefined) {
    INT(9, "rowsPerChunk", c9);
    chunk = c9 > 0 ? c9 : MLP_ROWS;
  }
  NEED(kind <= 1, "kind must be 0 (silu) or 1 (gelu-tanh)");
  NEED(X.length >= (size_t)(M * H), "x is shorter than M × H");
  NEED(WG.length >= (size_t)(In * H) && WU.length >= (size_t)(In * H), "wGate/wUp are shorter than In × H");
  NEED(WD.length >= (size_t)(H * In), "wDown is shorter than H × I");
  NEED(OUT.length >= (size_t)(M * H), "out is shorter than M × H");
  if (M == 0 || H == 0) return undefined(env);
  if (In == 0) {
    memset(OUT.data, 0, (size_t)(M * H) * sizeof(float)); /* an empty sum */
    return undefined(env);
  }
  const int64_t rows = M < chunk ? M : chunk;
  float *g = malloc(sizeof(float) * (size_t)((rows + 1) * In));
  float *u = malloc(sizeof(float) * (size_t)((rows + 1) * In));
  if (g == NULL || u == NULL) {
    free(g);
    free(u);
    return throw_range(env, FN, "out of memory for the intermediate rows");
  }
  const float *xs = X.data, *wg = WG.data, *wu = WU.data, *wd = WD.data;
  float *out = OUT.data;
  for (int64_t r0 = 0; r0 < M;) {
    int64_t n = M - r0 < chunk ? M - r0 : chunk;
    if (M - r0 - n == 1) n++; /* no chunk of one row (sgemv) after this one */
    crosscode_gemm(0, 1, n, In, H, xs + r0 * H, wg, 0.0f, g);
    crosscode_gemm(0, 1, n, In, H, xs + r0 * H, wu, 0.0f, u);
    gated_apply((int)kind, g, u, g, n * In);
    crosscode_gemm(0, 1, n, H, In, g, wd, 0.0f, out + r0 * H);
    r0 += n;
  }
  free(g);
  free(u);
  return undefined(env);
}

/*
 * ropeRows(x, rows, heads, D, cos, signedSin, out): x [rows, heads, D], cos / signedSin [rows, D]
 * (signedSin = cat(−sin, sin)): out = x · cos + cat(x2, x1) · signedSin per head.
 */
#undef FN
#define FN "ropeRows"
napi_value rope_rows(napi_env env, napi_callback_info info) {
  ARGS(7);
  F32(0, "x", X);
  INT(1, "rows", R);
  INT(2, "heads", NHd);
  INT(3, "D", D);
  F32(4, "cos", COS);
  F32(5, "signedSin", SIN);
  F32(6, "out", OUT);
  NEED(D % 2 == 0, "D must be even");
  const int64_t n = R * NHd * D;
  NEED(X.length >= (size_t)n && OUT.length >= (size_t)n, "x/out are shorter than rows × heads × D");
  NEED(COS.length >= (size_t)(R * D) && SIN.length >= (size_t)(R * D), "cos/signedSin are shorter than rows × D");
  const float *x = X.data, *cs = COS.data, *sn = SIN.data;
  float *out = OUT.data;
  const int64_t h = D / 2;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
  for (int64_t r = 0; r < R; r++) {
    const float *c = cs + r * D, *s = sn + r * D;
    for (int64_t hd = 0; hd < NHd; hd++) {
      const float *a = x + (r * NHd + hd) * D;
      float *o = out + (r * NHd + hd) * D;
      for (int64_t i = 0; i < h; i++) o[i] = a[i] * c[i] + a[i + h] * s[i];
      for (int64_t i = h; i < D; i++) o[i] = a[i] * c[i] + a[i - h] * s[i];
    }
  }
  return undefined(env);
}

/* Floats in groupedAttention's score block (16 MiB). */
#define ATTN_SCORES (4 << 20)

/*
 * groupedAttention(q, k, v, bias, B, T, S, nH, nKV, D, scale, softcap, out):
 *   q [B, T, nH, D], k / v [B, nKV, S, D] (the KV cache layout), bias [B, T, S] additive,
 *   out [B, T, nH, D] = softmax(cap(q·kᵀ·scale) + bias) · v, query head h on KV head h / (nH/nKV).
 * Per (sequence, KV head), its g query heads are gathered into one [g·T, D] block so that both
 * products are single sgemm calls; scale, soft-capping (softcap 0 = none), bias and softmax are
 * one row pass.
 */
#undef FN
#define FN "groupedAttention"
napi_value grouped_attention(napi_env env, napi_callback_info info) {
  ARGS(13);
  F32(0, "q", Q);
  F32(1, "k", K);
  F32(2, "v", V);
  F32(3, "bias", BIAS);
  INT(4, "B", B);
  INT(5, "T", T);
  INT(6, "S", S);
  INT(7, "nH", nH);
  INT(8, "nKV", nKV);
  INT(9, "D", D);
  NUM(10, "scale", scale);
  NUM(11, "softcap", cap);
  F32(12, "out", OUT);
  NEED(nKV > 0 && nH % nKV == 0, "nH must be a multiple of nKV");
  NEED(Q.length >= (size_t)(B * T * nH * D) && OUT.length >= (size_t)(B * T * nH * D), "q/out are shorter than B × T × nH × D");
  NEED(K.length >= (size_t)(B * nKV * S * D) && V.length >= (size_t)(B * nKV * S * D), "k/v are shorter than B × nKV × S × D");
  NEED(BIAS.length >= (size_t)(B * T * S), "bias is shorter than B × T × S");
  const int64_t g = nH / nKV;
  if (B * T * nH * D == 0) return undefined(env);
  /* queries in chunks of tc positions, so that the score block g·tc × S stays within
     ATTN_SCORES floats however long the sequence (a 32k-token prefill needs no 4 GB buffer) */
  int64_t tc = ATTN_SCORES / (g * (S > 0 ? S : 1));
  tc = tc < 1 ? 1 : (tc > T ? T : tc);
  const int64_t gTc = g * tc;
  float *qg = malloc(sizeof(float) * (size_t)(gTc * D));
  float *p = malloc(sizeof(float) * (size_t)(gTc * (S > 0 ? S : 1)));
  float *ctx = malloc(sizeof(float) * (size_t)(gTc * D));
  if (qg == NULL || p == NULL || ctx == NULL) {
    free(qg);
    free(p);
    free(ctx);
    return throw_range(env, FN, "out of memory for the score block");
  }
  const float *q = Q.data, *k = K.data, *v = V.data, *bias = BIAS.data;
  float *out = OUT.data;
  const float fscale = (float)scale, fcap = (float)cap;
  for (int64_t b = 0; b < B; b++) {
    for (int64_t j = 0; j < nKV; j++) {
      const float *kb = k + (b * nKV + j) * S * D, *vb = v + (b * nKV + j) * S * D;
      for (int64_t t0 = 0; t0 < T; t0 += tc) {
        const int64_t n = t0 + tc <= T ? tc : T - t0, rows = g * n;
        /* row hh·n + i of the block is query head j·g + hh at position t0 + i */
        for (int64_t hh = 0; hh < g; hh++)
          for (int64_t i = 0; i < n; i++)
            memcpy(qg + (hh * n + i) * D, q + ((b * T + t0 + i) * nH + j * g + hh) * D, sizeof(float) * (size_t)D);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)S, (int)D, 1.0f, qg, (int)D, kb, (int)D,
                    0.0f, p, (int)S);
#pragma omp parallel for schedule(static) if (rows * S >= PAR_MIN)
        for (int64_t r = 0; r < rows; r++) {
          float *row = p + r * S;
          const float *br = bias + (b * T + t0 + r % n) * S;
          if (fcap != 0.0f)
            for (int64_t c = 0; c < S; c++) row[c] = tanhf((row[c] * fscale) / fcap) * fcap + br[c];
          else
#pragma omp simd
            for (int64_t c = 0; c < S; c++) row[c] = row[c] * fscale + br[c];
          /* a NaN score is not the max, but makes its row NaN through the sum below, as in tfjs */
          float m = -INFINITY;
#pragma omp simd reduction(max : m)
          for (int64_t c = 0; c < S; c++) m = row[c] > m ? row[c] : m;
          float sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t c = 0; c < S; c++) {
            row[c] = exp_f32(row[c] - m);
            sum += row[c];
          }
          const float sf = sum;
          for (int64_t c = 0; c < S; c++) row[c] = row[c] / sf;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)D, (int)S, 1.0f, p, (int)S, vb, (int)D,
                    0.0f, ctx, (int)D);
        for (int64_t hh = 0; hh < g; hh++)
          for (int64_t i = 0; i < n; i++)
            memcpy(out + ((b * T + t0 + i) * nH + j * g + hh) * D, ctx + (hh * n + i) * D, sizeof(float) * (size_t)D);
      }
    }
  }
  free(qg);
  free(p);
  free(ctx);
  return undefined(env);
}

/* bfloat16 bits → float32 (exact). */
static inline float bf16(uint16_t b) {
  union {
    uint32_t u;
    float f;
  } c = {.u = (uint32_t)b << 16};
  return c.f;
}

/* Σ a[k]·b[k] as four independent chains (quarters of the range), so that the additions do
   not wait on each other. */
static inline float dot4(const float *a, const float *b, int64_t K) {
  const int64_t q = K / 4;
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
  for (int64_t i = 0; i < q; i++) {
    s0 = fmaf(a[i], b[i], s0);
    s1 = fmaf(a[i + q], b[i + q], s1);
    s2 = fmaf(a[i + 2 * q], b[i + 2 * q], s2);
    s3 = fmaf(a[i + 3 * q], b[i + 3 * q], s3);
  }
  for (int64_t i = 4 * q; i < K; i++) s0 = fmaf(a[i], b[i], s0);
  return (s0 + s1) + (s2 + s3);
}

/* Rows of W widened per block for sgemm when there are many rows of A. */
#define BF16_BLOCK 512
/* Up to this many rows of A, stream W once with dot products (memory-bound: half the bytes of float32);
   up to 4 rows widen in registers, more widen each W row once into L1. */
#define BF16_DOT_ROWS 8

/*
 * matmulBF16(a, M, K, w, N, out): out [M, N] = a [M, K] · wᵀ for w [N, K] in bfloat16 bits
 * (a Hugging Face [out, in] weight kept compact). Few rows of a: one pass over w, each row
 * widened in registers (half the memory traffic of a float32 weight). Many rows: w widened block
 * by block into float32 and multiplied with sgemm.
 */
#undef FN
#define FN "matmulBF16"
napi_value matmul_bf16(napi_env env, napi_callback_info info) {
  ARGS(6);
  F32(0, "a", A);
  INT(1, "M", M);
  INT(2, "K", Kd);
  Arr W;
  if (!get_arr(env, argv[3], napi_uint16_array, &W)) return throw_range(env, FN, "w must be a Uint16Array");
  INT(4, "N", N);
  F32(5, "out", OUT);
  NEED(A.length >= (size_t)(M * Kd), "a is shorter than M × K");
  NEED(W.length >= (size_t)(N * Kd), "w is shorter than N × K");
  NEED(OUT.length >= (size_t)(M * N), "out is shorter than M × N");
  const float *a = A.data;
  const uint16_t *w = W.data;
  float *out = OUT.data;
  if (M * N == 0) return undefined(env);
  if (M <= BF16_DOT_ROWS) {
#ifdef _OPENMP
    const int nt = omp_get_max_threads();
#else
    const int nt = 1;
#endif
    float *rows = malloc(sizeof(float) * (size_t)Kd * (size_t)nt);
    if (rows == NULL) return throw_range(env, FN, "out of memory for widened rows");
#pragma omp parallel
    {
#ifdef _OPENMP
      float *row = rows + (size_t)omp_get_thread_num() * (size_t)Kd;
#else
      float *row = rows;
#endif
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; n++) {
        /* each weight row widened once into L1, then dot products with every row of a */
        const uint16_t *wr = w + n * Kd;
        if (M <= 4) {
          for (int64_t m = 0; m < M; m++) {
            const float *ar = a + m * Kd;
            float acc = 0;
#pragma omp simd reduction(+ : acc)
            for (int64_t kk = 0; kk < Kd; kk++) acc = fmaf(ar[kk], bf16(wr[kk]), acc);
            out[m * N + n] = acc;
          }
          continue;
        }
#pragma omp simd
        for (int64_t kk = 0; kk < Kd; kk++) row[kk] = bf16(wr[kk]);
        int64_t m = 0;
        for (; m + 4 <= M; m += 4) {
          const float *a0 = a + m * Kd, *a1 = a0 + Kd, *a2 = a1 + Kd, *a3 = a2 + Kd;
          float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
          for (int64_t kk = 0; kk < Kd; kk++) {
            const float r = row[kk];
            s0 = fmaf(a0[kk], r, s0);
            s1 = fmaf(a1[kk], r, s1);
            s2 = fmaf(a2[kk], r, s2);
            s3 = fmaf(a3[kk], r, s3);
          }
          out[m * N + n] = s0;
          out[(m + 1) * N + n] = s1;
          out[(m + 2) * N + n] = s2;
          out[(m + 3) * N + n] = s3;
        }
        for (; m < M; m++) out[m * N + n] = dot4(a + m * Kd, row, Kd);
      }
    }
    free(rows);
    return undefined(env);
  }
  float *blk = malloc(sizeof(float) * (size_t)(BF16_BLOCK * Kd));
  float *tmp = malloc(sizeof(float) * (size_t)(M * BF16_BLOCK));
  if (blk == NULL || tmp == NULL) {
    free(blk);
    free(tmp);
    return throw_range(env, FN, "out of memory for a widened block");
  }
  for (int64_t n0 = 0; n0 < N; n0 += BF16_BLOCK) {
    const int64_t nb = N - n0 < BF16_BLOCK ? N - n0 : BF16_BLOCK;
#pragma omp parallel for schedule(static) if (nb * Kd >= PAR_MIN)
    for (int64_t i = 0; i < nb * Kd; i++) blk[i] = bf16(w[n0 * Kd + i]);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)nb, (int)Kd, 1.0f, a, (int)Kd, blk, (int)Kd, 0.0f,
                tmp, (int)nb);
    for (int64_t m = 0; m < M; m++) memcpy(out + m * N + n0, tmp + m * nb, sizeof(float) * (size_t)nb);
  }
  free(blk);
  free(tmp);
  return undefined(env);
}
