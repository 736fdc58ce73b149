//! Enums that are stored and sent as fixed strings (`SUCCESS`,
//! `merchant_pending`, …), declared once with [`text_enum!`]: the string of
//! each variant, `ALL`, `as_str`, `parse`, `FromStr`/`TryFrom<String>` with
//! [`UnknownValue`] as the error, and `Display`. One table per enum, so the
//! two directions can never disagree.

/// A string, read from the database or received, that names none of an
/// enum's values. Stored values are only ever written from `as_str()`, so
/// meeting one means corrupted data or a newer binary's value: an error,
/// never a silent default.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownValue {
    /// What was being parsed (`trade_state`, `movement kind`, …).
    pub what: &'static str,
    pub value: String,
}

impl UnknownValue {
    pub fn new(what: &'static str, value: impl Into<String>) -> UnknownValue {
        UnknownValue { what, value: value.into() }
    }
}

/// Declares an enum whose variants are written as the given strings:
///
/// ```
/// koudai_domain::text_enum! {
///     /// Whether a light is on.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Light: "light" {
///         On = "ON",
///         Off = "OFF",
///     }
/// }
/// assert_eq!(Light::On.as_str(), "ON");
/// assert_eq!("OFF".parse::<Light>(), Ok(Light::Off));
/// assert_eq!(Light::parse("DIM"), None);
/// assert_eq!(Light::ALL.len(), 2);
/// ```
#[macro_export]
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];

            /// The string this value is stored and sent as.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }

            /// The value written as `s`, if any.
            pub fn parse(s: &str) -> ::core::option::Option<$name> {
                match s {
                    $( $text => ::core::option::Option::Some($name::$variant), )+
                    _ => ::core::option::Option::None,
                }
            }
        }

        impl ::core::str::FromStr for $name {
            type Err = $crate::text::UnknownValue;

            fn from_str(s: &str) -> ::core::result::Result<$name, $crate::text::UnknownValue> {
                $name::parse(s).ok_or_else(|| $crate::text::UnknownValue::new($what, s))
            }
        }

        impl ::core::convert::TryFrom<::std::string::String> for $name {
            type Error = $crate::text::UnknownValue;

            fn try_from(s: ::std::string::String) -> ::core::result::Result<$name, $crate::text::UnknownValue> {
                s.parse()
            }
        }

        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
