//! OpenID Connect, as a relying party, through the `openidconnect` crate
//! (no hand-written token validation): the provider's discovery document
//! and keys (fetched at the first login, fetched again once when an ID
//! token names a key that is not among them: a provider rotating its
//! keys), the authorization request (code flow, PKCE S256, `state`,
//! `nonce`), and the code exchanged for an ID token whose signature,
//! `iss`, `aud`, `exp`, `iat` and `nonce` the crate checks. What prom then
//! makes of the claims (roles, accounts) is `usecase::sso`'s.
//!
//! The HTTP client is the `reqwest` prom already uses, adapted to the
//! crate's interface, with a short deadline: a provider that is down gives
//! a clear page within five seconds.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::Duration;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EmptyExtraTokenFields,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, ProviderMetadataWithLogout, RedirectUrl, Scope,
    StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use serde::{Deserialize, Serialize};

/// How long a request to the provider may take.
pub const DEADLINE: Duration = Duration::from_secs(4);

/// A provider as configured for one use (staff, or patients).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// The issuer: its discovery document is at
    /// `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// Scopes besides `openid`.
    pub scopes: Vec<String>,
    /// The `acr` values a login must assert (any of them); none: not
    /// checked.
    pub acr: Vec<String>,
    /// The `amr` values (authentication methods, such as `otp` or `mfa`)
    /// a login must assert at least one of; none: not checked.
    pub amr: Vec<String>,
}

impl ProviderConfig {
    /// Whether a login asserts the required `acr` and `amr`.
    pub fn assurance_ok(&self, who: &Identity) -> bool {
        let acr = self.acr.is_empty() || who.acr.as_ref().is_some_and(|a| self.acr.contains(a));
        let amr = self.amr.is_empty() || who.amr.iter().any(|m| self.amr.contains(m));
        acr && amr
    }
}

/// Claims besides the standard ones, kept as they came (the claim with
/// groups or roles is named in the configuration).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Extra {
    #[serde(flatten)]
    pub claims: BTreeMap<String, serde_json::Value>,
}

impl AdditionalClaims for Extra {}

type TokenFields = IdTokenFields<
    Extra,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type Client = openidconnect::Client<
    Extra,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<TokenFields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// What went wrong with a login at the provider, in words for the log and
/// a kind for the page.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The provider could not be reached or answered nonsense.
    #[error("the identity provider cannot be reached: {0}")]
    Unreachable(String),
    /// The provider refused the code (used, expired, or not ours).
    #[error("the identity provider refused the login: {0}")]
    Refused(String),
    /// The ID token failed a check (signature, issuer, audience, time,
    /// nonce).
    #[error("the ID token is not valid: {0}")]
    Invalid(String),
}

/// A login begun: where to send the browser, and what to keep until it
/// comes back (stored server-side, found by `state`).
pub struct Begun {
    pub url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// A login completed: the verified ID token's claims that prom uses.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub acr: Option<String>,
    pub amr: Vec<String>,
    /// The other claims, as they came.
    pub extra: BTreeMap<String, serde_json::Value>,
    /// The ID token itself, for the provider's logout (`id_token_hint`).
    pub id_token: String,
}

impl Identity {
    /// A claim's values as text: a string, or each string of a list.
    pub fn values(&self, claim: &str) -> Vec<String> {
        match self.extra.get(claim) {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// One configured provider: its settings and, once fetched, its metadata.
pub struct Provider {
    pub config: ProviderConfig,
    http: reqwest::Client,
    metadata: RwLock<Option<ProviderMetadataWithLogout>>,
}

/// The crate's HTTP requests, sent with prom's `reqwest`.
async fn send(
    http: &reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut out = openidconnect::http::Response::builder().status(response.status());
    if let Some(headers) = out.headers_mut() {
        *headers = response.headers().clone();
    }
    let bytes = response.bytes().await?.to_vec();
    // INVARIANT: a status and headers taken from a response form a valid one.
    Ok(out
        .body(bytes)
        .unwrap_or_else(|_| unreachable!("a response's own parts")))
}

impl Provider {
    pub fn new(config: ProviderConfig) -> Provider {
        let http = reqwest::Client::builder()
            .timeout(DEADLINE)
            .connect_timeout(DEADLINE)
            // The crate follows no redirects itself: neither does this.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Provider {
            config,
            http,
            metadata: RwLock::new(None),
        }
    }

    async fn discover(&self) -> Result<ProviderMetadataWithLogout, OidcError> {
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| OidcError::Unreachable(format!("the issuer is not a URL: {e}")))?;
        let http = self.http.clone();
        let client = move |r| {
            let http = http.clone();
            async move { send(&http, r).await }
        };
        let m = ProviderMetadataWithLogout::discover_async(issuer, &client)
            .await
            .map_err(|e| OidcError::Unreachable(error_chain(&e)))?;
        if let Ok(mut slot) = self.metadata.write() {
            *slot = Some(m.clone());
        }
        Ok(m)
    }

    async fn metadata(&self) -> Result<ProviderMetadataWithLogout, OidcError> {
        if let Some(m) = self.metadata.read().ok().and_then(|m| m.clone()) {
            return Ok(m);
        }
        self.discover().await
    }

    fn client(&self, m: ProviderMetadataWithLogout, redirect: &str) -> Result<Client, OidcError> {
        let redirect = RedirectUrl::new(redirect.to_string())
            .map_err(|e| OidcError::Unreachable(format!("the redirect address: {e}")))?;
        Ok(Client::from_provider_metadata(
            m,
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.clone())),
        )
        .set_redirect_uri(redirect))
    }

    /// Begins a login: the provider's authorization address with PKCE,
    /// `state` and `nonce`.
    pub async fn begin(&self, redirect: &str) -> Result<Begun, OidcError> {
        let client = self.client(self.metadata().await?, redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in &self.config.scopes {
            request = request.add_scope(Scope::new(s.clone()));
        }
        if !self.config.acr.is_empty() {
            request = request.add_extra_param("acr_values", self.config.acr.join(" "));
        }
        let (url, state, nonce) = request.url();
        Ok(Begun {
            url: url.to_string(),
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        })
    }

    /// Completes a login: the code exchanged (with the PKCE verifier) and
    /// the ID token checked. A token signed with a key the cached set does
    /// not hold makes prom fetch the provider's keys again, once.
    pub async fn complete(
        &self,
        redirect: &str,
        code: &str,
        nonce: &str,
        pkce_verifier: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Identity, OidcError> {
        let client = self.client(self.metadata().await?, redirect)?;
        let http = self.http.clone();
        let send_with = move |r| {
            let http = http.clone();
            async move { send(&http, r).await }
        };
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Unreachable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&send_with)
            .await
            .map_err(|e| match e {
                openidconnect::RequestTokenError::ServerResponse(r) => {
                    OidcError::Refused(r.error().to_string())
                }
                other => OidcError::Unreachable(error_chain(&other)),
            })?;
        let token = response
            .id_token()
            .ok_or_else(|| OidcError::Invalid("the provider sent no ID token".into()))?
            .clone();
        let nonce = Nonce::new(nonce.to_string());
        let check = |client: &Client| {
            let verifier = client
                .id_token_verifier()
                .set_other_audience_verifier_fn(|_| false)
                .set_issue_time_verifier_fn(move |iat| {
                    if iat > now + chrono::Duration::seconds(60) {
                        Err("issued in the future".into())
                    } else if iat < now - chrono::Duration::minutes(10) {
                        Err("issued more than ten minutes ago".into())
                    } else {
                        Ok(())
                    }
                })
                .set_time_fn(move || now);
            token.claims(&verifier, &nonce).cloned()
        };
        let claims = match check(&client) {
            Ok(c) => c,
            Err(openidconnect::ClaimsVerificationError::SignatureVerification(
                openidconnect::SignatureVerificationError::NoMatchingKey,
            )) => {
                // A key the cached set does not hold: fetch once more.
                let fresh = self.client(self.discover().await?, redirect)?;
                check(&fresh).map_err(|e| OidcError::Invalid(e.to_string()))?
            }
            Err(e) => return Err(OidcError::Invalid(e.to_string())),
        };
        Ok(Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            acr: claims.auth_context_ref().map(|a| a.to_string()),
            amr: claims
                .auth_method_refs()
                .map(|v| v.iter().map(|a| a.to_string()).collect())
                .unwrap_or_default(),
            extra: claims.additional_claims().claims.clone(),
            id_token: token.to_string(),
        })
    }

    /// The provider's logout address (RP-initiated logout) for a session
    /// that logged in with `id_token`, coming back to `back`; `None` when
    /// the provider offers none (or its document is not at hand).
    pub fn logout_url(&self, id_token: &str, back: &str) -> Option<String> {
        let m = self.metadata.read().ok()?.clone()?;
        let end = m.additional_metadata().end_session_endpoint.clone()?;
        let mut url = end.url().clone();
        url.query_pairs_mut()
            .append_pair("id_token_hint", id_token)
            .append_pair("post_logout_redirect_uri", back)
            .append_pair("client_id", &self.config.client_id);
        Some(url.to_string())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
