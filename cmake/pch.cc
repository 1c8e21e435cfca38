// The translation unit that compiles the precompiled header (cmake/StpPch.cmake).
