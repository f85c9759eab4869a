# Built against the installed libphicrypt (pkg-config phicrypt; from a meson build
# tree, PKG_CONFIG_PATH=build/meson-uninstalled) and the system's Node headers
# (npm_config_nodedir=/usr): nothing is downloaded.
{
  "targets": [{
    "target_name": "phicrypt",
    "sources": ["src/addon.cc"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")",
                     "<!@(pkg-config --cflags-only-I phicrypt | sed -e 's/-I//g')"],
    "libraries": ["<!@(pkg-config --libs phicrypt)"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags_cc": ["-std=c++17", "-fexceptions", "-Wall"],
    "cflags_cc!": ["-fno-exceptions"]
  }]
}
