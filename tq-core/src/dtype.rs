//! Element types of tensors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The element type of a tensor. The discriminant is the codec's on-disk
/// dtype byte: never renumber a variant, only append.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum DType {
    /// Boolean, one byte, 0 or 1.
    Bool = 0,
    /// Unsigned 8-bit integer.
    U8 = 1,
    /// Signed 8-bit integer.
    I8 = 2,
    /// Signed 16-bit integer.
    I16 = 3,
    /// Signed 32-bit integer.
    I32 = 4,
    /// Signed 64-bit integer.
    I64 = 5,
    /// Unsigned 16-bit integer.
    U16 = 6,
    /// Unsigned 32-bit integer.
    U32 = 7,
    /// Unsigned 64-bit integer.
    U64 = 8,
    /// IEEE 754 half precision.
    F16 = 9,
    /// bfloat16.
    BF16 = 10,
    /// IEEE 754 single precision.
    F32 = 11,
    /// IEEE 754 double precision.
    F64 = 12,
}

/// Every dtype, in discriminant order.
pub const ALL_DTYPES: [DType; 13] = [
    DType::Bool,
    DType::U8,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::F16,
    DType::BF16,
    DType::F32,
    DType::F64,
];

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 2,
            DType::I32 | DType::U32 | DType::F32 => 4,
            DType::I64 | DType::U64 | DType::F64 => 8,
        }
    }

    /// The name torch uses (`torch.float32` is `"float32"`).
    pub const fn torch_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// The name the safetensors header uses (`"F32"`).
    pub const fn safetensors_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "U8",
            DType::I8 => "I8",
            DType::I16 => "I16",
            DType::I32 => "I32",
            DType::I64 => "I64",
            DType::U16 => "U16",
            DType::U32 => "U32",
            DType::U64 => "U64",
            DType::F16 => "F16",
            DType::BF16 => "BF16",
            DType::F32 => "F32",
            DType::F64 => "F64",
        }
    }

    /// The codec's dtype byte.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The dtype of a codec byte, if it names one.
    pub fn from_code(code: u8) -> Option<DType> {
        ALL_DTYPES.get(code as usize).copied()
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.torch_name())
    }
}

impl FromStr for DType {
    type Err = Error;

    /// Parses a torch name (`float32`, with or without `torch.`), a safetensors
    /// name (`F32`), or a common alias (`float`, `half`, `double`, `long`, `int`).
    fn from_str(s: &str) -> Result<Self, Error> {
        let name = s.strip_prefix("torch.").unwrap_or(s);
        if let Some(d) = ALL_DTYPES
            .iter()
            .find(|d| d.torch_name() == name || d.safetensors_name() == name)
        {
            return Ok(*d);
        }
        match name {
            "float" => Ok(DType::F32),
            "half" => Ok(DType::F16),
            "double" => Ok(DType::F64),
            "long" => Ok(DType::I64),
            "int" => Ok(DType::I32),
            "short" => Ok(DType::I16),
            _ => Err(Error::invalid_argument(format!("unknown dtype {s:?}"))),
        }
    }
}

/// A Rust type whose values are the elements of a tensor of [`Element::DTYPE`].
///
/// Implemented for the primitive numeric types, which
/// [`Tensor::from_vec`](crate::Tensor::from_vec),
/// [`Tensor::as_slice`](crate::Tensor::as_slice) and
/// [`Tensor::to_vec`](crate::Tensor::to_vec) take. The other dtypes have
/// their own methods: `bool` tensors
/// [`Tensor::from_bools`](crate::Tensor::from_bools) and
/// [`Tensor::as_bools`](crate::Tensor::as_bools); 16-bit floats, which have
/// no stable Rust type, are built from raw bytes with
/// [`Tensor::new`](crate::Tensor::new) and read with
/// [`Tensor::to_f32_vec`](crate::Tensor::to_f32_vec).
pub trait Element: bytemuck::Pod + Send + Sync + 'static {
    /// The dtype of this element type.
    const DTYPE: DType;
}

macro_rules! element {
    ($($t:ty => $d:ident),* $(,)?) => {
        $(impl Element for $t { const DTYPE: DType = DType::$d; })*
    };
}

element!(u8 => U8, i8 => I8, i16 => I16, i32 => I32, i64 => I64, u16 => U16,
    u32 => U32, u64 => U64, f32 => F32, f64 => F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_names_parse() {
        for d in ALL_DTYPES {
            assert_eq!(DType::from_code(d.code()), Some(d));
            assert_eq!(d.torch_name().parse::<DType>().unwrap(), d);
            assert_eq!(d.safetensors_name().parse::<DType>().unwrap(), d);
            assert_eq!(format!("torch.{d}").parse::<DType>().unwrap(), d);
        }
        assert_eq!(DType::from_code(13), None);
        assert!("float128".parse::<DType>().is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(DType::Bool.size(), 1);
        assert_eq!(DType::BF16.size(), 2);
        assert_eq!(DType::F32.size(), 4);
        assert_eq!(DType::U64.size(), 8);
    }
}
