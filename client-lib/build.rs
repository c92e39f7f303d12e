//! Gives libtoolcall its SONAME (libtoolcall.so.0), so programs linked through the -dev symlink
//! depend on the versioned file that `make install` ships.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libtoolcall.so.0");
}
