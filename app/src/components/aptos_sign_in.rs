//! Sign in with Aptos (AIP-116) in the browser: finds a wallet that offers `aptos:signIn` through the wallet
//! standard (AIP-62) and asks it to sign Pictor's input in one step.

#[cfg(feature = "hydrate")]
pub use browser::{find_sign_in_wallet, sign_in, SignInWallet};

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::RefCell;
    use std::rc::Rc;

    use js_sys::{Function, Object, Reflect, Uint8Array};
    use pictor_core::signin::{SignInInput, SignInProof};
    use wasm_bindgen::prelude::*;
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;

    const FEATURE: &str = "aptos:signIn";

    /// A wallet's `aptos:signIn` feature, with the wallet's name for messages.
    pub struct SignInWallet {
        pub name: String,
        feature: JsValue,
    }

    fn get(target: &JsValue, key: &str) -> Option<JsValue> {
        Reflect::get(target, &JsValue::from_str(key)).ok().filter(|value| !value.is_undefined() && !value.is_null())
    }

    /// Asks the page's wallets to register (the wallet standard's `app-ready` event, answered synchronously by
    /// wallets already loaded) and returns one offering `aptos:signIn`, Petra first.
    pub fn find_sign_in_wallet() -> Option<SignInWallet> {
        let registered: Rc<RefCell<Vec<JsValue>>> = Rc::default();
        let list = registered.clone();
        // Handed to JavaScript for good: a wallet may keep the API object and call it again later.
        let register = Closure::<dyn FnMut(JsValue) -> JsValue>::new(move |wallet: JsValue| {
            list.borrow_mut().push(wallet);
            Closure::<dyn Fn()>::new(|| {}).into_js_value()
        })
        .into_js_value();
        let api = Object::new();
        Reflect::set(&api, &JsValue::from_str("register"), &register).ok()?;
        let init = web_sys::CustomEventInit::new();
        init.set_detail(&api);
        let event = web_sys::CustomEvent::new_with_event_init_dict("wallet-standard:app-ready", &init).ok()?;
        leptos::prelude::window().dispatch_event(&event).ok()?;
        let wallets = registered.take();
        let offers = |wallet: &JsValue| get(wallet, "features").and_then(|features| get(&features, FEATURE));
        let name = |wallet: &JsValue| get(wallet, "name").and_then(|name| name.as_string()).unwrap_or_default();
        let chosen = wallets
            .iter()
            .filter(|wallet| offers(wallet).is_some())
            .max_by_key(|wallet| name(wallet).to_ascii_lowercase().contains("petra"))?;
        Some(SignInWallet { name: name(chosen), feature: offers(chosen)? })
    }

    /// Lower-case hex with `0x` of a string, a `Uint8Array` or an SDK object with `toUint8Array()`.
    fn hex_of(value: &JsValue) -> Option<String> {
        if let Some(text) = value.as_string() {
            return Some(text);
        }
        let bytes = if value.is_instance_of::<Uint8Array>() {
            value.clone()
        } else {
            get(value, "toUint8Array")?.dyn_into::<Function>().ok()?.call0(value).ok()?
        };
        let bytes = bytes.dyn_into::<Uint8Array>().ok()?.to_vec();
        Some(bytes.iter().fold("0x".to_string(), |mut hex, byte| {
            hex.push_str(&format!("{byte:02x}"));
            hex
        }))
    }

    fn error_text(error: &JsValue) -> String {
        get(error, "message")
            .and_then(|message| message.as_string())
            .or_else(|| error.as_string())
            .unwrap_or_else(|| "the wallet refused".to_string())
    }

    /// Has `wallet` sign `input` and returns what to send to the coordinator.
    pub async fn sign_in(wallet: &SignInWallet, input: &SignInInput) -> Result<SignInProof, String> {
        let sign_in = get(&wallet.feature, "signIn")
            .and_then(|method| method.dyn_into::<Function>().ok())
            .ok_or_else(|| format!("{} offers Sign in with Aptos without a signIn method", wallet.name))?;
        let request = serde_wasm_bindgen::to_value(input).map_err(|error| error.to_string())?;
        let promise = sign_in
            .call1(&wallet.feature, &request)
            .map_err(|error| format!("{} did not sign in: {}", wallet.name, error_text(&error)))?;
        let response = JsFuture::from(js_sys::Promise::resolve(&promise))
            .await
            .map_err(|error| format!("{} did not sign in: {}", wallet.name, error_text(&error)))?;
        if get(&response, "status").and_then(|status| status.as_string()).as_deref() != Some("Approved") {
            return Err("You declined to sign in with your wallet.".to_string());
        }
        let unknown = || format!("{} answered Sign in with Aptos in an unknown form", wallet.name);
        let args = get(&response, "args").ok_or_else(unknown)?;
        let account = get(&args, "account").ok_or_else(unknown)?;
        let input: SignInInput =
            serde_wasm_bindgen::from_value(get(&args, "input").ok_or_else(unknown)?).map_err(|_| unknown())?;
        Ok(SignInProof {
            input,
            public_key: get(&account, "publicKey").as_ref().and_then(hex_of).ok_or_else(unknown)?,
            signature: get(&args, "signature").as_ref().and_then(hex_of).ok_or_else(unknown)?,
            scheme: get(&args, "type").and_then(|scheme| scheme.as_string()).unwrap_or_else(|| "ed25519".into()),
        })
    }
}
