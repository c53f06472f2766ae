//! Whole-stream digests (MD5 for Swift's ETag and Glance's checksum,
//! SHA-512 for Glance's `os_hash_value`) through OpenSSL's libcrypto, linked
//! from the system library (Debian `libssl-dev` to build, `libssl3` to run).
//!
//! Why not the `md-5` crate: MD5 cannot be parallelised, so on a
//! single-stream upload its rate is the upload's ceiling. Measured on the
//! 2-core build machine (`cargo bench -p archipelago --bench digest`, 4 MiB
//! pieces): libcrypto's MD5 about 650 MB/s, `md-5` with its assembly core
//! about 520 MB/s; libcrypto's SHA-512 also beats `sha2`. As with ISA-L in
//! blockd, we declare the few EVP functions we call rather than pull in a
//! bindings crate with a build script.

use std::os::raw::{c_int, c_uint, c_void};
use std::ptr::NonNull;

#[repr(C)]
struct EvpMdCtx {
    _private: [u8; 0],
}
#[repr(C)]
struct EvpMd {
    _private: [u8; 0],
}

#[link(name = "crypto")]
extern "C" {
    fn EVP_MD_CTX_new() -> *mut EvpMdCtx;
    fn EVP_MD_CTX_free(ctx: *mut EvpMdCtx);
    fn EVP_md5() -> *const EvpMd;
    fn EVP_sha512() -> *const EvpMd;
    fn EVP_DigestInit_ex(ctx: *mut EvpMdCtx, md: *const EvpMd, engine: *mut c_void) -> c_int;
    fn EVP_DigestUpdate(ctx: *mut EvpMdCtx, data: *const c_void, len: usize) -> c_int;
    fn EVP_DigestFinal_ex(ctx: *mut EvpMdCtx, out: *mut u8, len: *mut c_uint) -> c_int;
}

/// Which digest a [`Hasher`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Md5,
    Sha512,
}

impl Algo {
    fn len(self) -> usize {
        match self {
            Algo::Md5 => 16,
            Algo::Sha512 => 64,
        }
    }
}

/// A running digest. Feed it with [`Hasher::update`], end it with
/// [`Hasher::finish`].
pub struct Hasher {
    ctx: NonNull<EvpMdCtx>,
    algo: Algo,
}

// SAFETY: an EVP_MD_CTX is plain memory owned by this value; OpenSSL allows
// using it from any thread as long as calls do not overlap, which `&mut self`
// guarantees.
unsafe impl Send for Hasher {}

impl Hasher {
    pub fn new(algo: Algo) -> Hasher {
        // SAFETY: plain constructor calls; results checked below.
        let (ctx, md) = unsafe {
            (
                EVP_MD_CTX_new(),
                match algo {
                    Algo::Md5 => EVP_md5(),
                    Algo::Sha512 => EVP_sha512(),
                },
            )
        };
        // Allocation failure or a libcrypto without the digest: nothing a
        // caller could do but fail the upload, and both mean a broken host.
        let ctx = NonNull::new(ctx).expect("EVP_MD_CTX_new failed (out of memory)");
        // SAFETY: `ctx` is a fresh context, `md` a static digest (or null,
        // which EVP_DigestInit_ex refuses).
        let ok = unsafe { EVP_DigestInit_ex(ctx.as_ptr(), md, std::ptr::null_mut()) };
        assert_eq!(ok, 1, "libcrypto does not provide {algo:?}");
        Hasher { ctx, algo }
    }

    pub fn update(&mut self, data: &[u8]) {
        // SAFETY: `data` is valid for its length; the context was
        // initialised in `new` and is not finished (finish takes self).
        let ok = unsafe { EVP_DigestUpdate(self.ctx.as_ptr(), data.as_ptr().cast(), data.len()) };
        debug_assert_eq!(ok, 1);
    }

    /// The digest's bytes (16 for MD5, 64 for SHA-512).
    pub fn finish(self) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        let mut len: c_uint = 0;
        // SAFETY: `out` holds EVP_MAX_MD_SIZE (64) bytes.
        let ok = unsafe { EVP_DigestFinal_ex(self.ctx.as_ptr(), out.as_mut_ptr(), &mut len) };
        assert_eq!(ok, 1, "EVP_DigestFinal_ex failed");
        debug_assert_eq!(len as usize, self.algo.len());
        out.truncate(len as usize);
        out
    }

    /// Lowercase hex of the digest.
    pub fn finish_hex(self) -> String {
        hex::encode(self.finish())
    }
}

impl Drop for Hasher {
    fn drop(&mut self) {
        // SAFETY: created by EVP_MD_CTX_new, freed once.
        unsafe { EVP_MD_CTX_free(self.ctx.as_ptr()) };
    }
}

/// MD5 of `data`, lowercase hex.
pub fn md5_hex(data: &[u8]) -> String {
    let mut h = Hasher::new(Algo::Md5);
    h.update(data);
    h.finish_hex()
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest as _;

    #[test]
    fn known_answers_and_agreement_with_the_rust_crates() {
        // RFC 1321 and FIPS 180-2 test vectors.
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        let mut s = Hasher::new(Algo::Sha512);
        s.update(b"abc");
        assert_eq!(
            s.finish_hex(),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        // Fed in uneven pieces, as an upload arrives.
        let data: Vec<u8> = (0..1_000_003u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        let mut m = Hasher::new(Algo::Md5);
        let mut s = Hasher::new(Algo::Sha512);
        for piece in data.chunks(77_777) {
            m.update(piece);
            s.update(piece);
        }
        assert_eq!(m.finish(), md5::Md5::digest(&data).to_vec());
        assert_eq!(s.finish(), sha2::Sha512::digest(&data).to_vec());
    }
}
