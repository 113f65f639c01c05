/* The system BLAS (Accelerate on macOS, a CBLAS such as OpenBLAS elsewhere) and OpenMP, for every
   translation unit of the addon. */
#ifndef CROSSCODE_BLAS_H
#define CROSSCODE_BLAS_H
#ifdef __APPLE__
#define ACCELERATE_NEW_LAPACK
#include <Accelerate/Accelerate.h>
#else
#include <cblas.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdint.h>

/*
 * C (M×N, row-major) = op(A)·op(B) + beta·C (kernels.c): sgemm, or sgemv for one row against an
 * [out, in] weight. Every product of the addon goes through it, so that a fused kernel's
 * products are bit-identical to the separate ops'.
 */
void crosscode_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *a, const float *b, float beta,
                    float *c);
#endif
