//! Element types as the buffer protocol (PEP 3118 format strings) and
//! DLPack (type code, bits) spell them.

use tq_facade::DType;

/// The dtype of a buffer whose items have `format` and `item_size`, if
/// tq-rs has one. Native and little-endian formats only: tq-rs stores
/// little-endian bytes, and a big-endian array would be read back wrong.
pub(crate) fn dtype_from_format(format: &str, item_size: usize) -> Option<DType> {
    let spec = format.trim_start_matches(['@', '=', '<']);
    let spec = if item_size == 1 {
        // Byte order does not matter for one-byte items.
        spec.trim_start_matches(['>', '!'])
    } else {
        spec
    };
    let dtype = match (spec, item_size) {
        ("?", 1) => DType::Bool,
        ("b", 1) => DType::I8,
        ("B", 1) => DType::U8,
        ("h", 2) => DType::I16,
        ("H", 2) => DType::U16,
        ("i" | "l" | "q", 4) => DType::I32,
        ("i" | "l" | "q", 8) => DType::I64,
        ("I" | "L" | "Q", 4) => DType::U32,
        ("I" | "L" | "Q", 8) => DType::U64,
        ("e", 2) => DType::F16,
        ("f", 4) => DType::F32,
        ("d", 8) => DType::F64,
        _ => return None,
    };
    Some(dtype)
}

/// The buffer-protocol format of `dtype`; `None` for bfloat16, which has no
/// PEP 3118 code (numpy has no bfloat16).
pub(crate) fn format_of(dtype: DType) -> Option<&'static std::ffi::CStr> {
    Some(match dtype {
        DType::Bool => c"?",
        DType::I8 => c"b",
        DType::U8 => c"B",
        DType::I16 => c"h",
        DType::U16 => c"H",
        DType::I32 => c"i",
        DType::U32 => c"I",
        DType::I64 => c"q",
        DType::U64 => c"Q",
        DType::F16 => c"e",
        DType::F32 => c"f",
        DType::F64 => c"d",
        DType::BF16 => return None,
    })
}

/// DLPack's type codes (`DLDataTypeCode`).
pub(crate) mod dl_code {
    pub(crate) const INT: u8 = 0;
    pub(crate) const UINT: u8 = 1;
    pub(crate) const FLOAT: u8 = 2;
    pub(crate) const BFLOAT: u8 = 4;
    pub(crate) const BOOL: u8 = 6;
}

/// `dtype` as a DLPack (code, bits) pair.
pub(crate) fn dl_type_of(dtype: DType) -> (u8, u8) {
    use dl_code::*;
    let code = match dtype {
        DType::Bool => BOOL,
        DType::I8 | DType::I16 | DType::I32 | DType::I64 => INT,
        DType::U8 | DType::U16 | DType::U32 | DType::U64 => UINT,
        DType::F16 | DType::F32 | DType::F64 => FLOAT,
        DType::BF16 => BFLOAT,
    };
    (code, (dtype.size() * 8) as u8)
}

/// The dtype of a DLPack (code, bits, lanes) triple, if tq-rs has one.
pub(crate) fn dtype_of_dl(code: u8, bits: u8, lanes: u16) -> Option<DType> {
    use dl_code::*;
    if lanes != 1 {
        return None;
    }
    Some(match (code, bits) {
        (BOOL, 8) => DType::Bool,
        (INT, 8) => DType::I8,
        (INT, 16) => DType::I16,
        (INT, 32) => DType::I32,
        (INT, 64) => DType::I64,
        (UINT, 8) => DType::U8,
        (UINT, 16) => DType::U16,
        (UINT, 32) => DType::U32,
        (UINT, 64) => DType::U64,
        (FLOAT, 16) => DType::F16,
        (FLOAT, 32) => DType::F32,
        (FLOAT, 64) => DType::F64,
        (BFLOAT, 16) => DType::BF16,
        _ => return None,
    })
}
