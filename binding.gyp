{
  "//": "weft_lwip (the userspace stack) is built only where liblwip-dev is installed: without it, the install still succeeds and --tun=userspace reports ERR_NETSTACK_UNAVAILABLE.",
  "targets": [
    {
      "target_name": "weft_native",
      "sources": [
        "native/weft_native.cc",
        "native/poll.cc",
        "native/tun.cc",
        "native/udp.cc",
        "native/udp-gro.cc",
        "native/aead.cc",
        "native/blake2s.cc",
        "native/x25519.cc",
        "native/offload.cc",
        "native/offload-read.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
      "libraries": ["-ldl"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions"],
      "conditions": [
        ["OS!='linux'", { "sources!": ["native/tun.cc", "native/udp.cc", "native/udp-gro.cc", "native/offload.cc", "native/offload-read.cc"] }]
      ]
    }
  ],
  "variables": {
    "have_lwip%": "<!(test -f /usr/include/lwip/lwipopts.h && echo 1 || echo 0)"
  },
  "conditions": [
    ["have_lwip==1", {
      "targets": [
        {
          "target_name": "weft_lwip",
          "sources": ["native/lwip.cc", "native/lwip-core.c"],
          "include_dirs": [
            "<!(node -p \"require('node-addon-api').include_dir\")",
            "/usr/include/lwip"
          ],
          "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
          "cflags!": ["-fno-exceptions"],
          "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
          "libraries": ["-llwip"],
          "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers", "-O2"],
          "cflags_cc": ["-std=c++17", "-fno-exceptions"]
        }
      ]
    }]
  ]
}
