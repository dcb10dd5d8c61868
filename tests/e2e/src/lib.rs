//! Helpers shared by the end-to-end tests: temp dirs, spawning the real binaries, a raw control client.
