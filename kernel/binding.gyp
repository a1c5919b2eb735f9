{
  "targets": [
    {
      "target_name": "expo_kernel",
      "sources": [
        "src/addon.cc",
        "src/job.cc",
        "src/isa.cc",
        "src/kernel_scalar.cc",
        "src/kernel_avx2.cc",
        "src/kernel_avx512.cc",
        "src/mixed_scalar.cc",
        "src/mixed_avx2.cc",
        "src/mixed_avx512.cc",
        "src/cuda_loader.cc",
        "src/sha256.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-O3", "-fvisibility=hidden", "-ffp-contract=off", "-fno-fast-math", "-fexceptions", "-Wno-psabi"],
      "cflags_cc": ["-std=c++17", "-fexceptions"],
      "libraries": ["-lm", "-ldl"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "OTHER_CFLAGS": ["-O3", "-ffp-contract=off", "-fno-fast-math"]
      }
    }
  ]
}
