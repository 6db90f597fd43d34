//! `named_enum!`: the one way this crate declares a bounded set of names (statuses, phases,
//! reasons). Each value is written as its PascalCase variant name — in status, Events, metric
//! labels and serde alike — so the name a user sees, the stored form and the code agree.

/// Declares a fieldless enum whose values are named by their PascalCase variant names, with
/// `ALL` (declaration order), `as_str`, `parse`, `Display`, serde as that name, and `JsonSchema`.
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[doc = $doc:literal])* $variant:ident, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        $vis enum $name {
            $( $(#[doc = $doc])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: [$name; [$(stringify!($variant)),+].len()] = [$($name::$variant),+];

            /// The PascalCase name used in status, Events, metric labels and the UI.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => stringify!($variant), )+
                }
            }

            /// Parses a PascalCase name (exactly as `as_str` writes it).
            pub fn parse(name: &str) -> Option<$name> {
                $name::ALL.into_iter().find(|value| value.as_str() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

pub(crate) use named_enum;
