//! The message catalogues: every text a visitor reads, in English and Korean. Both catalogues are values of
//! one struct (and the refusals one array of [`REFUSALS`] entries), so a text missing from either does not
//! compile. `{domain}` and `{email}` are replaced (escaped) by the page that shows them.

/// The refusal pages, in the order of the catalogues' `refusals` arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Refusal {
    InvalidEmail,
    UnknownDomain,
    UnknownConnector,
    LoginExpired,
    Replayed,
    StateMismatch,
    InvalidCallback,
    IssuerMismatch,
    TokenExchange,
    IdToken,
    EmailMissing,
    EmailUnverified,
    EmailDomainMismatch,
    TenantNotAllowed,
    DomainNotOwned,
    HostedDomainMismatch,
    GroupsOverage,
    UserInfo,
    IdpUnreachable,
    Config,
    Revocations,
    SessionTooLarge,
    Internal,
    Csrf,
    NotFound,
    MethodNotAllowed,
    PayloadTooLarge,
    BadPath,
    ReplayStore,
    IdpAccessDenied,
    IdpServerError,
    IdpBusy,
    IdpSignInRequired,
    IdpMisconfigured,
    IdpOther,
}

/// How many refusal pages there are (the length of each catalogue's `refusals`).
pub const REFUSALS: usize = Refusal::IdpOther as usize + 1;

/// One refusal page: its title (also the heading), what happened and what to do, the button's label.
pub type RefusalText = (&'static str, &'static str, &'static str);

/// Every visitor-facing text of one language.
pub struct Catalog {
    /// The `lang` attribute and `Content-Language`.
    pub lang: &'static str,
    pub single_sign_on: &'static str,
    /// Footer of every page; `{product}` is the product name.
    pub secured_by: &'static str,
    pub password_note: &'static str,
    pub error_code: &'static str,
    pub need_help: &'static str,
    pub contact_support: &'static str,
    pub home: &'static str,
    // The login page.
    pub sign_in: &'static str,
    pub login_explain: &'static str,
    pub work_email: &'static str,
    pub continue_label: &'static str,
    pub continuing: &'static str,
    // The signed-out page.
    pub signed_out_title: &'static str,
    pub signed_out_text: &'static str,
    pub sign_in_again: &'static str,
    // The sign-out confirmation (`GET /auth/logout`, a WS-Fed sign-out opened from no page).
    pub sign_out_title: &'static str,
    pub sign_out_text: &'static str,
    pub sign_out: &'static str,
    // The access-policy refusal (403).
    pub forbidden_title: &'static str,
    pub forbidden_text: &'static str,
    pub switch_account: &'static str,
    pub refusals: [RefusalText; REFUSALS],
}

const VERIFY_FAILED: &str =
    "The identity provider's answer failed our security checks, so you were not signed in. Please try again; if it keeps happening, contact your administrator.";

pub static EN: Catalog = Catalog {
    lang: "en",
    single_sign_on: "Single sign-on",
    secured_by: "Secured by {product}",
    password_note: "your password is never entered on this site",
    error_code: "Error code:",
    need_help: "Need help?",
    contact_support: "Contact support",
    home: "Go to the home page",
    sign_in: "Sign in",
    login_explain: "Enter your work email; you will be sent to your organisation's sign-in page.",
    work_email: "Work email",
    continue_label: "Continue",
    continuing: "Continuing\u{2026}",
    signed_out_title: "You have signed out",
    signed_out_text: "Your session on this site has ended. To finish signing out everywhere on a shared computer, close the browser.",
    sign_in_again: "Sign in again",
    sign_out_title: "Sign out?",
    sign_out_text: "You will be signed out of this site and sent to your identity provider to end your session there.",
    sign_out: "Sign out",
    forbidden_title: "You do not have access to this page",
    forbidden_text: "You are signed in as {email}, and this account is not allowed here. If you have another account with access, sign out and sign in with it; otherwise ask the site's administrator for access.",
    switch_account: "Sign out and switch account",
    refusals: [
        ("That is not an email address", "Enter your full work email address, like name@company.com.", "Try again"),
        ("Your organisation is not set up here", "Sign-in for {domain} is not configured on this site. Check the address you typed, or ask your administrator to add your organisation.", "Use another email"),
        ("Unknown sign-in option", "This sign-in link names an identity provider this site does not know.", "Sign in"),
        ("Your sign-in expired", "The sign-in took too long, or it was started in another browser or tab. Please start again.", "Sign in again"),
        ("Your sign-in expired", "This sign-in link was already used. Please start again.", "Sign in again"),
        ("This sign-in does not belong to this browser", "The answer from your identity provider does not match the sign-in started here. Please start again.", "Sign in again"),
        ("Incomplete answer from your identity provider", "The identity provider sent this browser back without a result. Please start again.", "Sign in again"),
        ("Unexpected identity provider", "The answer came from a different identity provider than the one this sign-in was sent to. Please start again; if it keeps happening, contact your administrator.", "Sign in again"),
        ("Your identity provider refused the sign-in", "Your identity provider did not accept this sign-in. Please try again; if it keeps happening, contact your administrator.", "Try again"),
        ("Your sign-in could not be verified", VERIFY_FAILED, "Try again"),
        ("No email address was shared", "Your identity provider did not tell us your email address, which this site needs. Contact your administrator.", "Sign in with another account"),
        ("Your email address is not verified", "Your identity provider says your email address has not been verified. Verify it with your provider, then sign in again.", "Sign in again"),
        ("That account belongs to another organisation", "You signed in with an account whose email domain is not served by the identity provider you were sent to. Sign in with your work account for the email you entered.", "Sign in again"),
        ("Your organisation's directory is not allowed here", "You signed in with an account from a Microsoft Entra tenant this site does not accept. Sign in with your work account for the email you entered, or ask your administrator to allow your organisation.", "Sign in again"),
        ("Your address belongs to another organisation", "Your address's domain is not verified in your organisation's Microsoft Entra directory.", "Sign in again"),
        ("Use your organisation's Google account", "You signed in with a Google account that does not belong to your organisation's Google Workspace. Sign in with your work account.", "Sign in again"),
        ("Your group memberships could not be read", "Your account is in more groups than your identity provider sends at sign-in, and this site needs them to decide what you may see. Contact your administrator.", "Sign in with another account"),
        ("Your profile could not be read", "Your identity provider did not let us read your email address. Please try again; if it keeps happening, contact your administrator.", "Try again"),
        ("Your identity provider is not answering", "We could not reach your organisation's identity provider. Please try again in a few minutes.", "Try again"),
        ("Sign-in is not configured correctly", "This site's sign-in configuration has a problem. The site operator has the details in the logs.", "Try again"),
        ("Sign-in is paused for a moment", "This site cannot check signed-out sessions right now, so it starts no new ones. Please try again in a few minutes.", "Try again"),
        ("Your account cannot be signed in here", "Your identity provider describes your account with more data than this site's sign-in cookie can hold. Contact your administrator.", "Sign in with another account"),
        ("Sign-in failed on our side", "This site could not complete the sign-in because of an internal problem. Please try again; if it keeps happening, contact the site operator.", "Try again"),
        ("Request refused", "This request did not come from this site, so it was refused.", "Go to the home page"),
        ("Page not found", "There is nothing at this address.", "Go to the home page"),
        ("Method not allowed", "This address does not accept that kind of request.", "Go to the home page"),
        ("Request too large", "This request carried more data than a sign-in ever needs, so it was refused. Please start again.", "Sign in again"),
        ("This address cannot be served", "The address contains characters that are not allowed in a path here (for example an encoded control character or a malformed %-escape). Check the link you followed.", "Go to the home page"),
        ("Sign-in is temporarily unavailable", "This site could not make sure that this sign-in is used only once, so it was refused for your safety. Please start again in a minute.", "Sign in again"),
        ("Sign-in was cancelled", "You or your identity provider declined the sign-in. If that was a mistake, start again. If you are turned away every time, your account may not have access to this site: ask your administrator.", "Start again"),
        ("Your identity provider had a problem", "Your organisation's identity provider reported an internal error. Please try again in a moment.", "Try again"),
        ("Your identity provider is busy", "Your organisation's identity provider is temporarily unavailable. Please try again in a few minutes.", "Try again"),
        ("Please sign in again", "Your identity provider needs you to sign in again.", "Sign in"),
        ("Sign-in is misconfigured", "Your identity provider rejected this site's sign-in request. Contact your administrator and mention the error code below.", "Try again"),
        ("Your identity provider returned an error", AGAIN_OR_ADMIN_IDP, "Try again"),
    ],
};

const AGAIN_OR_ADMIN_IDP: &str =
    "Your identity provider could not complete the sign-in. Please try again; if it keeps happening, contact your administrator.";

const KO_VERIFY_FAILED: &str =
    "ID 공급자의 응답이 보안 검사를 통과하지 못해 로그인되지 않았습니다. 다시 시도해 주세요. 계속 같은 문제가 생기면 관리자에게 문의하세요.";

pub static KO: Catalog = Catalog {
    lang: "ko",
    single_sign_on: "통합 로그인",
    secured_by: "{product} 보안 로그인",
    password_note: "이 사이트에는 비밀번호를 입력하지 않습니다",
    error_code: "오류 코드:",
    need_help: "도움이 필요하십니까?",
    contact_support: "지원 담당자에게 문의하기",
    home: "홈으로 이동",
    sign_in: "로그인",
    login_explain: "회사 이메일을 입력하세요. 소속 조직의 로그인 페이지로 이동합니다.",
    work_email: "회사 이메일",
    continue_label: "계속",
    continuing: "이동하는 중\u{2026}",
    signed_out_title: "로그아웃되었습니다",
    signed_out_text: "이 사이트의 세션이 종료되었습니다. 공용 컴퓨터를 사용 중이라면 브라우저를 닫아 모든 곳에서 로그아웃하세요.",
    sign_in_again: "다시 로그인",
    sign_out_title: "로그아웃하시겠습니까?",
    sign_out_text: "이 사이트에서 로그아웃한 뒤 ID 공급자로 이동하여 그곳의 세션도 종료합니다.",
    sign_out: "로그아웃",
    forbidden_title: "이 페이지에 접근할 권한이 없습니다",
    forbidden_text: "현재 {email} 계정으로 로그인되어 있으며, 이 계정으로는 이곳에 접근할 수 없습니다. 권한이 있는 다른 계정이 있다면 로그아웃한 뒤 그 계정으로 로그인하시고, 없다면 사이트 관리자에게 권한을 요청하세요.",
    switch_account: "로그아웃하고 다른 계정으로 로그인",
    refusals: [
        ("올바른 이메일 주소가 아닙니다", "name@company.com 형식으로 회사 이메일 주소 전체를 입력하세요.", "다시 시도"),
        ("이 사이트에 등록되지 않은 조직입니다", "{domain}에 대한 로그인이 이 사이트에 설정되어 있지 않습니다. 입력한 주소를 확인하시거나, 관리자에게 조직 등록을 요청하세요.", "다른 이메일 사용"),
        ("알 수 없는 로그인 방법입니다", "이 로그인 링크는 이 사이트에 등록되지 않은 ID 공급자를 가리킵니다.", "로그인"),
        ("로그인 시간이 만료되었습니다", "로그인에 시간이 너무 오래 걸렸거나 다른 브라우저 또는 탭에서 시작되었습니다. 처음부터 다시 시도해 주세요.", "다시 로그인"),
        ("로그인 시간이 만료되었습니다", "이미 사용된 로그인 링크입니다. 처음부터 다시 시도해 주세요.", "다시 로그인"),
        ("이 브라우저에서 시작한 로그인이 아닙니다", "ID 공급자의 응답이 이 브라우저에서 시작한 로그인과 일치하지 않습니다. 처음부터 다시 시도해 주세요.", "다시 로그인"),
        ("ID 공급자의 응답이 완전하지 않습니다", "ID 공급자가 로그인 결과 없이 이 브라우저를 돌려보냈습니다. 처음부터 다시 시도해 주세요.", "다시 로그인"),
        ("예상하지 못한 ID 공급자입니다", "로그인을 요청한 곳과 다른 ID 공급자에서 응답이 왔습니다. 처음부터 다시 시도해 주세요. 계속 같은 문제가 생기면 관리자에게 문의하세요.", "다시 로그인"),
        ("ID 공급자가 로그인을 거부했습니다", "ID 공급자가 이 로그인을 받아들이지 않았습니다. 다시 시도해 주세요. 계속 같은 문제가 생기면 관리자에게 문의하세요.", "다시 시도"),
        ("로그인을 확인할 수 없습니다", KO_VERIFY_FAILED, "다시 시도"),
        ("이메일 주소를 전달받지 못했습니다", "ID 공급자가 이 사이트에 필요한 이메일 주소를 알려 주지 않았습니다. 관리자에게 문의하세요.", "다른 계정으로 로그인"),
        ("이메일 주소가 인증되지 않았습니다", "ID 공급자에 따르면 이메일 주소가 아직 인증되지 않았습니다. 공급자에서 인증을 마친 뒤 다시 로그인하세요.", "다시 로그인"),
        ("다른 조직의 계정입니다", "로그인한 계정의 이메일 도메인은 안내된 ID 공급자가 관리하는 도메인이 아닙니다. 입력한 이메일 주소의 회사 계정으로 로그인하세요.", "다시 로그인"),
        ("이 사이트에서 허용하지 않는 조직 디렉터리입니다", "이 사이트가 허용하지 않는 Microsoft Entra 테넌트의 계정으로 로그인하셨습니다. 입력한 이메일 주소의 회사 계정으로 로그인하시거나, 관리자에게 조직 허용을 요청하세요.", "다시 로그인"),
        ("다른 조직에 속한 주소입니다", "이 주소의 도메인은 소속 조직의 Microsoft Entra 디렉터리에서 인증된 도메인이 아닙니다.", "다시 로그인"),
        ("조직의 Google 계정을 사용하세요", "조직의 Google Workspace에 속하지 않은 Google 계정으로 로그인하셨습니다. 회사 계정으로 로그인하세요.", "다시 로그인"),
        ("그룹 멤버십을 확인할 수 없습니다", "계정이 속한 그룹이 너무 많아 ID 공급자가 로그인할 때 모두 보내지 않았습니다. 이 사이트는 그룹으로 접근 권한을 판단하므로 로그인을 완료할 수 없습니다. 관리자에게 문의하세요.", "다른 계정으로 로그인"),
        ("프로필을 읽을 수 없습니다", "ID 공급자에서 이메일 주소를 읽을 수 없었습니다. 다시 시도해 주세요. 계속 같은 문제가 생기면 관리자에게 문의하세요.", "다시 시도"),
        ("ID 공급자가 응답하지 않습니다", "소속 조직의 ID 공급자에 연결할 수 없습니다. 몇 분 후에 다시 시도해 주세요.", "다시 시도"),
        ("로그인 설정에 문제가 있습니다", "이 사이트의 로그인 설정에 문제가 있습니다. 자세한 내용은 사이트 운영자가 로그에서 확인할 수 있습니다.", "다시 시도"),
        ("잠시 로그인이 중단되었습니다", "지금은 로그아웃된 세션을 확인할 수 없어 새로운 로그인을 받지 않습니다. 몇 분 후에 다시 시도해 주세요.", "다시 시도"),
        ("이 계정으로는 로그인할 수 없습니다", "ID 공급자가 보낸 계정 정보가 너무 많아 이 사이트의 로그인 쿠키에 담을 수 없습니다. 관리자에게 문의하세요.", "다른 계정으로 로그인"),
        ("내부 문제로 로그인하지 못했습니다", "이 사이트의 내부 문제로 로그인을 완료하지 못했습니다. 다시 시도해 주세요. 계속 같은 문제가 생기면 사이트 운영자에게 문의하세요.", "다시 시도"),
        ("요청이 거부되었습니다", "이 사이트에서 보낸 요청이 아니므로 거부되었습니다.", "홈으로 이동"),
        ("페이지를 찾을 수 없습니다", "이 주소에는 페이지가 없습니다.", "홈으로 이동"),
        ("허용되지 않는 요청입니다", "이 주소는 해당 방식의 요청을 받지 않습니다.", "홈으로 이동"),
        ("요청이 너무 큽니다", "로그인에 필요한 양보다 많은 데이터가 담긴 요청이어서 거부되었습니다. 처음부터 다시 시도해 주세요.", "다시 로그인"),
        ("이 주소는 열 수 없습니다", "주소에 허용되지 않는 문자(예: 인코딩된 제어 문자나 잘못된 % 이스케이프)가 들어 있습니다. 접속한 링크를 확인하세요.", "홈으로 이동"),
        ("일시적으로 로그인할 수 없습니다", "이 로그인이 한 번만 사용되는지 확인할 수 없어 안전을 위해 거부했습니다. 잠시 후 처음부터 다시 시도해 주세요.", "다시 로그인"),
        ("로그인이 취소되었습니다", "사용자 또는 ID 공급자가 로그인을 거절했습니다. 실수였다면 다시 시작하세요. 매번 거절된다면 계정에 이 사이트 접근 권한이 없을 수 있으니 관리자에게 문의하세요.", "다시 시작"),
        ("ID 공급자에 문제가 발생했습니다", "소속 조직의 ID 공급자에서 내부 오류가 발생했습니다. 잠시 후 다시 시도해 주세요.", "다시 시도"),
        ("ID 공급자가 일시적으로 응답할 수 없습니다", "소속 조직의 ID 공급자를 일시적으로 사용할 수 없습니다. 몇 분 후에 다시 시도해 주세요.", "다시 시도"),
        ("다시 로그인해 주세요", "ID 공급자가 다시 로그인하도록 요청했습니다.", "로그인"),
        ("로그인 설정이 올바르지 않습니다", "ID 공급자가 이 사이트의 로그인 요청을 거부했습니다. 관리자에게 문의하시고 아래 오류 코드를 알려 주세요.", "다시 시도"),
        ("ID 공급자가 오류를 반환했습니다", KO_AGAIN_OR_ADMIN_IDP, "다시 시도"),
    ],
};

const KO_AGAIN_OR_ADMIN_IDP: &str =
    "ID 공급자가 로그인을 완료하지 못했습니다. 다시 시도해 주세요. 계속 같은 문제가 생기면 관리자에게 문의하세요.";
