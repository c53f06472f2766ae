//! Reed-Solomon through Intel's ISA-L, linked from the system library
//! (Debian `libisal-dev` to build, `libisal2` to run).
//!
//! We declare the five C functions we call instead of depending on a
//! bindings crate: the crates on crates.io either run bindgen (needs
//! libclang) or build ISA-L from source with autotools, which costs minutes
//! of a 2-core build for the same machine code Debian already ships.

use std::os::raw::{c_int, c_uchar};

use super::{check_encode, check_reconstruct, CodeId, Codec, CodecError};

#[link(name = "isal")]
extern "C" {
    fn gf_gen_cauchy1_matrix(a: *mut c_uchar, m: c_int, k: c_int);
    fn ec_init_tables(k: c_int, rows: c_int, a: *mut c_uchar, gftbls: *mut c_uchar);
    fn ec_encode_data(
        len: c_int,
        k: c_int,
        rows: c_int,
        gftbls: *mut c_uchar,
        data: *mut *mut c_uchar,
        coding: *mut *mut c_uchar,
    );
    fn gf_invert_matrix(input: *mut c_uchar, out: *mut c_uchar, n: c_int) -> c_int;
    fn gf_mul(a: c_uchar, b: c_uchar) -> c_uchar;
}

/// `k + m` Reed-Solomon with ISA-L's Cauchy matrix (every square submatrix
/// is invertible, so any `k` survivors decode).
pub struct IsalCodec {
    k: usize,
    m: usize,
    /// `(k + m) x k`, row-major; the top `k x k` is the identity.
    matrix: Vec<u8>,
    /// Expanded multiplication tables for the parity rows.
    encode_tables: Vec<u8>,
}

impl IsalCodec {
    /// Builds the code; `k >= 1`, `m >= 1`, `k + m <= 255`.
    pub fn new(k: usize, m: usize) -> Result<IsalCodec, CodecError> {
        if k == 0 || m == 0 || k + m > 255 {
            return Err(CodecError::BadArguments(format!("k={k} m={m}")));
        }
        let mut matrix = vec![0u8; (k + m) * k];
        // SAFETY: `matrix` holds (k+m)*k bytes, the size the function fills.
        unsafe { gf_gen_cauchy1_matrix(matrix.as_mut_ptr(), (k + m) as c_int, k as c_int) };
        let encode_tables = tables(k, &matrix[k * k..]);
        Ok(IsalCodec {
            k,
            m,
            matrix,
            encode_tables,
        })
    }
}

/// Expands `rows` (each `k` coefficients) into ISA-L's 32-bytes-per-
/// coefficient lookup tables.
fn tables(k: usize, rows: &[u8]) -> Vec<u8> {
    let nrows = rows.len() / k;
    let mut rows = rows.to_vec();
    let mut out = vec![0u8; 32 * k * nrows];
    // SAFETY: `rows` is nrows*k coefficients and `out` 32*k*nrows bytes, the
    // sizes ec_init_tables reads and writes; it does not modify `rows`.
    unsafe {
        ec_init_tables(
            k as c_int,
            nrows as c_int,
            rows.as_mut_ptr(),
            out.as_mut_ptr(),
        )
    };
    out
}

/// Runs `ec_encode_data`: `outputs[r] = sum_j rows[r][j] * inputs[j]`.
fn apply(k: usize, tables: &[u8], inputs: &[&[u8]], outputs: &mut [&mut [u8]], len: usize) {
    if len == 0 || outputs.is_empty() {
        return;
    }
    debug_assert_eq!(tables.len(), 32 * k * outputs.len());
    debug_assert!(inputs.len() == k && inputs.iter().all(|i| i.len() >= len));
    // ISA-L takes `unsigned char **` for inputs it only reads; the casts to
    // *mut never lead to a write through them.
    let mut ins: Vec<*mut u8> = inputs.iter().map(|s| s.as_ptr() as *mut u8).collect();
    let mut outs: Vec<*mut u8> = outputs.iter_mut().map(|s| s.as_mut_ptr()).collect();
    // Fragments are at most a few MiB, far below i32::MAX, but split anyway
    // so a huge caller cannot truncate `len`.
    let mut done = 0usize;
    while done < len {
        let n = (len - done).min(1 << 30);
        // SAFETY: every input and output pointer is valid for `done + n`
        // bytes (checked lengths above); `tables` was built for k inputs and
        // outputs.len() rows; outputs do not alias inputs (&mut vs &).
        unsafe {
            let mut i: Vec<*mut u8> = ins.iter_mut().map(|p| p.add(done)).collect();
            let mut o: Vec<*mut u8> = outs.iter_mut().map(|p| p.add(done)).collect();
            ec_encode_data(
                n as c_int,
                k as c_int,
                o.len() as c_int,
                tables.as_ptr() as *mut u8,
                i.as_mut_ptr(),
                o.as_mut_ptr(),
            );
        }
        done += n;
    }
}

impl Codec for IsalCodec {
    fn k(&self) -> usize {
        self.k
    }

    fn m(&self) -> usize {
        self.m
    }

    fn id(&self) -> CodeId {
        CodeId::IsalCauchy
    }

    fn encode(&self, data: &[&[u8]], parity: &mut [&mut [u8]]) -> Result<(), CodecError> {
        let len = check_encode(self.k, self.m, data, parity)?;
        apply(self.k, &self.encode_tables, data, parity, len);
        Ok(())
    }

    fn reconstruct(
        &self,
        frags: &[Option<&[u8]>],
        wanted: &[usize],
        out: &mut [&mut [u8]],
    ) -> Result<(), CodecError> {
        let k = self.k;
        let (len, sources) = check_reconstruct(k, self.m, frags, wanted, out)?;
        // Rows of the generator matrix for the survivors we decode from.
        let mut sub: Vec<u8> = sources
            .iter()
            .flat_map(|&s| self.matrix[s * k..(s + 1) * k].to_vec())
            .collect();
        let mut inv = vec![0u8; k * k];
        // SAFETY: both buffers are k*k bytes; the call overwrites `sub`.
        if unsafe { gf_invert_matrix(sub.as_mut_ptr(), inv.as_mut_ptr(), k as c_int) } != 0 {
            return Err(CodecError::Singular);
        }
        // A wanted data row is a row of the inverse; a wanted parity row is
        // its generator row times the inverse.
        let mut rows = Vec::with_capacity(wanted.len() * k);
        for &w in wanted {
            if w < k {
                rows.extend_from_slice(&inv[w * k..(w + 1) * k]);
            } else {
                let g = &self.matrix[w * k..(w + 1) * k];
                for j in 0..k {
                    // SAFETY: gf_mul is a pure table lookup.
                    rows.push(
                        (0..k).fold(0u8, |acc, t| acc ^ unsafe { gf_mul(g[t], inv[t * k + j]) }),
                    );
                }
            }
        }
        let inputs: Vec<&[u8]> = sources
            .iter()
            .map(|&s| frags[s].unwrap_or_default())
            .collect();
        apply(k, &tables(k, &rows), &inputs, out, len);
        Ok(())
    }
}
