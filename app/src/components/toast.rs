//! Toasts: a short message after every action, success or failure, in one
//! live region (assistive technology reads it) at the corner of the page.
//! Each disappears after a few seconds or when dismissed.

use std::time::Duration;

use leptos::prelude::*;

use crate::error::AppError;

const SHOWN_FOR: Duration = Duration::from_secs(6);
/// At most this many at once; a new one pushes out the oldest.
const MAX_SHOWN: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Toast {
    id: u64,
    ok: bool,
    text: String,
}

/// The page's toasts; provided once by the app, used by every page.
#[derive(Clone, Copy)]
pub struct Toasts {
    list: RwSignal<Vec<Toast>>,
    next: StoredValue<u64>,
}

impl Toasts {
    pub fn provide() -> Self {
        let toasts = Self {
            list: RwSignal::new(Vec::new()),
            next: StoredValue::new(0),
        };
        provide_context(toasts);
        toasts
    }

    pub fn success(self, text: impl Into<String>) {
        self.push(true, text.into());
    }

    pub fn error(self, error: &AppError) {
        self.push(false, error.to_string());
    }

    /// The toast an action's result deserves: `done` on success, the
    /// error's own message on failure.
    pub fn report<T>(self, result: &Result<T, AppError>, done: &str) {
        match result {
            Ok(_) => self.success(done),
            Err(error) => self.error(error),
        }
    }

    fn push(self, ok: bool, text: String) {
        let id = self.next.get_value();
        self.next.set_value(id + 1);
        self.list.update(|list| {
            list.push(Toast { id, ok, text });
            if list.len() > MAX_SHOWN {
                list.remove(0);
            }
        });
        set_timeout(move || self.dismiss(id), SHOWN_FOR);
    }

    fn dismiss(self, id: u64) {
        self.list.update(|list| list.retain(|toast| toast.id != id));
    }
}

/// Toasts an action's every completion (in the browser, where actions run).
pub fn toast_results<T: Clone + Send + Sync + 'static>(
    value: impl Fn() -> Option<Result<T, AppError>> + 'static,
    done: &'static str,
) {
    let toasts = expect_context::<Toasts>();
    Effect::new(move |_| {
        if let Some(result) = value() {
            toasts.report(&result, done);
        }
    });
}

/// Where the toasts appear.
#[component]
pub fn ToastRegion() -> impl IntoView {
    let toasts = expect_context::<Toasts>();
    view! {
        <div class="toasts" role="status" aria-live="polite">
            <For each=move || toasts.list.get() key=|toast| toast.id let:toast>
                <div class=if toast.ok { "toast toast-ok" } else { "toast toast-error" }>
                    <span>{toast.text.clone()}</span>
                    <button
                        type="button"
                        class="toast-close"
                        aria-label="Dismiss"
                        on:click=move |_| toasts.dismiss(toast.id)
                    >
                        "×"
                    </button>
                </div>
            </For>
        </div>
    }
}
