//! How toolcalld's heap gives memory back to the system (glibc only; elsewhere these do
//! nothing).

/// Large request buffers (tool lists up to `max_tools_bytes`, and whatever a client sends
/// before it is refused) are mmapped and handed back to the kernel when freed. glibc's default
/// raises its mmap threshold after the first such free, and later big buffers then stay in the
/// heap arenas: the hostile-input corpus measured 116 MB -> 159-197 MB of RSS that way, and a
/// flat 83-84 MB with the threshold fixed at 1 MiB (tests/tests/corpus.rs). Call it first
/// thing in `main`.
pub fn bound_heap_growth() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets an allocator parameter; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Returns the free pages of the heap to the system. A released toolset or session frees its
/// KV cache (~14 MB with the default model) in pieces under 1 MiB, which glibc would otherwise
/// keep: after a 32-client soak released everything, RSS stayed 420 MB above its start.
pub fn return_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}
