{
  "targets": [
    {
      "target_name": "crosscode_native",
      "sources": ["src/kernels.c", "src/decoder.c"],
      "cflags": ["-O3", "-march=native", "-fopenmp", "-std=c11", "-fno-math-errno", "-fno-trapping-math"],
      "cflags!": ["-O2", "-O1", "-O0"],
      "ldflags": ["-fopenmp"],
      "conditions": [
        ["OS=='linux'", {
          "include_dirs": ["/usr/include/openblas", "/usr/include/x86_64-linux-gnu/openblas-pthread", "/usr/include/aarch64-linux-gnu/openblas-pthread"],
          "libraries": ["-lopenblas", "-lgomp"]
        }],
        ["OS=='mac'", {
          "libraries": ["-framework Accelerate"],
          "xcode_settings": {"OTHER_CFLAGS": ["-O3"], "MACOSX_DEPLOYMENT_TARGET": "13.3"}
        }]
      ]
    }
  ]
}
