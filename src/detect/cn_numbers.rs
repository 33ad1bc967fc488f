//! Decisions on Chinese number shapes that carry no checksum: the first-generation
//! 15-digit resident ID (area code and birth date only) and, when the rules turn them
//! on, mainland mobile numbers. Called by `classify` before its context rules.
//!
//! Owns when these shapes win over other readings; must not look for context phrases
//! (it is handed the nearby categories) and never puts a digit into a reason.

use super::classify::{decision, Decision};
use super::lexicon::Category;
use super::validate::{is_card, is_cn_id15, is_cn_mobile};
use super::EntityKind;

/// The decision for the pure digits `d` (no check character) of a run whose nearby
/// context is `ctxs` (nearest first), if it has one of these shapes.
///
/// A 15-digit ID is an ID unless negative context is nearest (it has no checksum to
/// outweigh "order number"), and unless card context or a valid card number says card
/// without ID context to say otherwise. A mobile number, when `mobile` is on, is one in any
/// context: 手机号 and "phone" are exactly what announce it.
pub(crate) fn decide(d: &[u8], ctxs: &[Category], mobile: bool) -> Option<Decision> {
    if mobile && is_cn_mobile(d) {
        return decision(EntityKind::Mobile, "cn-mobile-shape", 0.85, false);
    }
    let card_ctx = ctxs.contains(&Category::Card);
    let id_ctx = ctxs.contains(&Category::CnId);
    // Asked for an ID, it is one unless it is also a valid card asked for as a card;
    // otherwise only when nothing says card (a card read with a digit lost has 15).
    let id_reading = if id_ctx {
        !(card_ctx && is_card(d))
    } else {
        !card_ctx && !is_card(d)
    };
    if id_reading && ctxs.first() != Some(&Category::Negative) && is_cn_id15(d) {
        return decision(
            EntityKind::CnId,
            "cn-id-first-generation:region+birth-date",
            0.85,
            false,
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_generation_id_unless_negative_or_a_card() {
        let d = decide(b"420111831220753", &[], false).unwrap();
        assert_eq!(d.kind, EntityKind::CnId);
        assert!(decide(b"420111831220753", &[Category::Negative], false).is_none());
        // Shandong (37) area code, 1985-06-12, and Luhn-valid: also an Amex number.
        let amex_like = b"370104850612419";
        assert!(is_card(amex_like) && is_cn_id15(amex_like));
        assert!(decide(amex_like, &[], false).is_none());
        assert!(decide(amex_like, &[Category::CnId, Category::Card], false).is_none());
        let d = decide(amex_like, &[Category::CnId], false).unwrap();
        assert_eq!(d.kind, EntityKind::CnId);
        // A card asked for and read with a digit lost may have an ID's shape.
        assert!(decide(b"420111831220753", &[Category::Card], false).is_none());
        let d = decide(b"420111831220753", &[Category::CnId, Category::Card], false).unwrap();
        assert_eq!(d.kind, EntityKind::CnId);
    }

    #[test]
    fn mobile_numbers_only_when_on_and_in_any_context() {
        assert!(decide(b"13800138000", &[], false).is_none());
        let d = decide(b"13800138000", &[Category::Negative], true).unwrap();
        assert_eq!(d.kind, EntityKind::Mobile);
        assert!(!d.reason.chars().any(|c| c.is_ascii_digit()));
        assert!(decide(b"12800138000", &[], true).is_none());
    }
}
