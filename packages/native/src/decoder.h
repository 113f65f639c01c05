/* Fused kernels of the decoder forward pass (decoder.c), registered by kernels.c's init. */
#ifndef CROSSCODE_DECODER_H
#define CROSSCODE_DECODER_H
#define NAPI_VERSION 8
#include <node_api.h>

napi_value rms_norm_rows(napi_env env, napi_callback_info info);
napi_value gated_activation(napi_env env, napi_callback_info info);
napi_value gated_mlp(napi_env env, napi_callback_info info);
napi_value rope_rows(napi_env env, napi_callback_info info);
napi_value grouped_attention(napi_env env, napi_callback_info info);
napi_value matmul_bf16(napi_env env, napi_callback_info info);

#endif
