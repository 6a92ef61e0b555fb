/// The eBPF object depends on the `bpf-linker` binary, which cargo cannot see: rebuild when it
/// changes (for example after it was relinked against a new nightly's LLVM).
fn main() {
    if let Ok(bpf_linker) = which::which("bpf-linker") {
        println!("cargo:rerun-if-changed={}", bpf_linker.display());
    }
}
