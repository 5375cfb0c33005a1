//! The dashboard's sections, in sidebar order, with their routes and one-line purpose.

/// One entry of the dashboard's sidebar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Section {
    pub title: &'static str,
    pub path: &'static str,
    /// A short glyph shown beside the title (kept as text so no icon font is needed).
    pub icon: &'static str,
    pub summary: &'static str,
}

/// The product's sections; the router and the sidebar are both built from this list.
pub const SECTIONS: &[Section] = &[
    Section {
        title: "Overview",
        path: "/",
        icon: "◎",
        summary: "Your jobs, credit, workers, checkers and AI at a glance, and the network live.",
    },
    Section {
        title: "Rendering",
        path: "/rendering",
        icon: "▣",
        summary: "Submit Blender jobs and watch frames arrive.",
    },
    Section { title: "AI", path: "/ai", icon: "✦", summary: "AI inference and training jobs on the same GPUs." },
    Section {
        title: "My Workers",
        path: "/workers",
        icon: "⚙",
        summary: "Lend GPUs, watch their health and earnings.",
    },
    Section {
        title: "Checker Nodes",
        path: "/checkers",
        icon: "✓",
        summary: "Verify workers' results and earn a share.",
    },
    Section { title: "Rewards", path: "/rewards", icon: "★", summary: "Earnings, epochs, points and payouts." },
    Section { title: "Credit", path: "/credit", icon: "¤", summary: "Balance, top-ups and the ledger." },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_paths_are_unique_and_absolute() {
        let mut paths: Vec<_> = SECTIONS.iter().map(|s| s.path).collect();
        assert!(paths.iter().all(|p| p.starts_with('/')));
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), SECTIONS.len());
    }
}
