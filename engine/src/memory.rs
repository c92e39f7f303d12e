//! How a process that hosts the engine gives heap memory back to the system (glibc only;
//! elsewhere these do nothing). toolcalld and toolcall-bench call [`bound_heap_growth`] first
//! thing in `main`.

/// Fixes glibc's mmap threshold at 1 MiB, so buffers of 1 MiB and more are mmapped and handed
/// back to the kernel when freed. glibc's default raises the threshold after the first such
/// free, and later big buffers then stay in the heap arenas. Measured: loading the default
/// model peaks at 920 MB of RSS without this and 752 MB with it (tensors copied and repacked
/// during optimisation), and the daemon's hostile-input corpus (tool lists up to
/// `max_tools_bytes`, and whatever a client sends before it is refused) went from 116 MB to
/// 159-197 MB without it, a flat 83-84 MB with it (tests/tests/corpus.rs). Call it before any
/// other thread exists.
pub fn bound_heap_growth() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Returns the free pages of the heap to the system. A released toolset or session frees its
/// KV cache (~14 MB with the default model) in pieces under 1 MiB, which glibc would otherwise
/// keep: after a 32-client soak released everything, RSS stayed 420 MB above its start. Loading a
/// bundle does the same with the graph's constants tract has packed (`Decoder::load` calls this:
/// the default q4 bundle holds 215-220 MB once loaded against 276 MB without it).
pub fn return_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
