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
#endif
