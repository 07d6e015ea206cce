/*
 * TorchSharp 0.107's libLibTorchSharp.so was built with GCC 13, whose <iostream> makes every translation unit
 * reference std::ios_base_library_init() @GLIBCXX_3.4.32. Older libstdc++ (GCC 12, Debian 12) lacks that symbol.
 * The build marks the version requirement weak (see TorchSharpNativeFix.targets) and this library, loaded with
 * RTLD_GLOBAL before TorchSharp, supplies an unversioned definition. An empty body is right: the iostreams are
 * already initialised by libtorch's own objects.
 */
void _ZSt21ios_base_library_initv(void) {}
