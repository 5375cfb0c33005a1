//! Runs a chart's drawing once its element is in the document: after a client-side navigation a page's data can
//! arrive before Suspense has put the page's elements in place, and ECharts needs the element laid out.

/// Calls `draw` now if the element `element_id` is in the document, else on one of the next animation frames (it
/// gives up after about two seconds: the page was left).
#[cfg(feature = "hydrate")]
pub fn when_mounted(element_id: &'static str, draw: impl FnOnce() + 'static) {
    attempt(element_id, Box::new(draw), 120);
}

#[cfg(feature = "hydrate")]
fn attempt(element_id: &'static str, draw: Box<dyn FnOnce()>, tries_left: u32) {
    let present = web_sys::window()
        .and_then(|window| window.document())
        .and_then(|document| document.get_element_by_id(element_id))
        .is_some();
    if present {
        draw();
    } else if tries_left > 0 {
        leptos::prelude::request_animation_frame(move || attempt(element_id, draw, tries_left - 1));
    }
}
