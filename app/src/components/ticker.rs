//! A counter bumped every few seconds while a component is on the page (in the browser only): resources that track
//! it are looked at again, for figures that change without an event (workers loading models, batches running).

use leptos::prelude::*;

/// A version that goes up by one every `every` from the moment the component mounts until it is removed.
pub fn ticker(every: std::time::Duration) -> RwSignal<u64> {
    let version = RwSignal::new(0u64);
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        {
            let handle = set_interval_with_handle(
                move || {
                    version.try_update(|v| *v += 1);
                },
                every,
            );
            if let Ok(handle) = handle {
                on_cleanup(move || handle.clear());
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = every;
    });
    version
}
