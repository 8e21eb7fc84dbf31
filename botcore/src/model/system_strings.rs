//! The system strings (`BotBuilder:*` keys): prompt retries, the error message, yes/no and
//! list separators, in English and the other languages botcore ships.
//!
//! English, Spanish, German, French, Brazilian Portuguese and Simplified Chinese are the texts
//! of Bot Builder v3's own `core/lib/locale/<lang>/BotBuilder.json` (v3 names the retry keys
//! `default_text`, `default_number`, ...; botcore names them `text_retry`, `number_retry`,
//! ...). v3 shipped no Japanese table; the Japanese texts are translations of the English
//! ones.

/// A table of system strings: `(key, text)`.
pub(crate) type Table = &'static [(&'static str, &'static str)];

/// English: v3's defaults, used when no table of the user's or the default locale has the key.
pub(crate) const EN: Table = &[
    (
        "BotBuilder:text_retry",
        "I didn't understand. Please try again.",
    ),
    (
        "BotBuilder:number_retry",
        "I didn't recognize that as a number. Please enter a number.",
    ),
    (
        "BotBuilder:confirm_retry",
        "I didn't understand. Please answer 'yes' or 'no'.",
    ),
    (
        "BotBuilder:choice_retry",
        "I didn't understand. Please choose an option from the list.",
    ),
    (
        "BotBuilder:time_retry",
        "I didn't recognize the time you entered. Please try again using a format of (MM/DD/YYYY HH:MM:SS).",
    ),
    (
        "BotBuilder:attachment_retry",
        "I didn't receive a file. Please try again.",
    ),
    (
        "BotBuilder:default_error",
        "Oops. Something went wrong and we need to start over.",
    ),
    ("BotBuilder:confirm_yes", "yes"),
    ("BotBuilder:confirm_no", "no"),
    ("BotBuilder:list_or", " or "),
    ("BotBuilder:list_or_more", ", or "),
];

const ES: Table = &[
    (
        "BotBuilder:text_retry",
        "No se pudo reconocer su respuesta. Por favor vuelva a intentar.",
    ),
    (
        "BotBuilder:number_retry",
        "No se pudo reconocer el texto como número. Vuelva a intentar sólo con números.",
    ),
    (
        "BotBuilder:confirm_retry",
        "No se pudo reconocer la confirmación. Por favor responda con 'sí' o 'no'.",
    ),
    (
        "BotBuilder:choice_retry",
        "No se pudo reconocer su respuesta. Por favor seleccione una opción de la lista.",
    ),
    (
        "BotBuilder:time_retry",
        "No se pudo reconocer el formato de la fecha. Por favor vuelva a intentar (MM/DD/YYYY HH:MM:SS).",
    ),
    (
        "BotBuilder:attachment_retry",
        "No se pudo recibir el archivo. Por favor vuelva a intentar.",
    ),
    (
        "BotBuilder:default_error",
        "Oops. Ocurrió un problema. Por favor vuelva a intentar.",
    ),
    ("BotBuilder:confirm_yes", "sí"),
    ("BotBuilder:confirm_no", "no"),
    ("BotBuilder:list_or", " o "),
    ("BotBuilder:list_or_more", ", o "),
];

const DE: Table = &[
    (
        "BotBuilder:text_retry",
        "Das habe ich nicht verstanden. Bitte versuchen Sie es nochmal",
    ),
    (
        "BotBuilder:number_retry",
        "Die Zahl habe ich nicht verstanden. Bitte geben Sie eine Zahl ein.",
    ),
    (
        "BotBuilder:confirm_retry",
        "Das habe ich nicht verstanden. Bitte antworten Sie 'ja' oder 'nein'",
    ),
    (
        "BotBuilder:choice_retry",
        "Das habe ich nicht verstanden. Bitte waehlen Sie aus der Liste.",
    ),
    (
        "BotBuilder:time_retry",
        "Die eingegebene Zeit habe ich nicht verstanden. Bitte geben Sie es im folgenden Format ein (MM/TT/JJJJ HH:MM:SS).",
    ),
    (
        "BotBuilder:attachment_retry",
        "Ich habe nichts empfangen. Bitte versuchen Sie es erneut.",
    ),
    (
        "BotBuilder:default_error",
        "Ups. Irgendetwas ist schief gelaufen. Wir versuchen es erneut.",
    ),
    ("BotBuilder:confirm_yes", "ja"),
    ("BotBuilder:confirm_no", "nein"),
    ("BotBuilder:list_or", " oder "),
    ("BotBuilder:list_or_more", ", oder "),
];

const FR: Table = &[
    (
        "BotBuilder:text_retry",
        "Je n'ai pas compris. Veuillez réessayer.",
    ),
    (
        "BotBuilder:number_retry",
        "Ce n'est pas un nombre. Merci d'entrer un nombre.",
    ),
    (
        "BotBuilder:confirm_retry",
        "Je n'ai pas compris. Merci de répondre 'oui' ou 'non'.",
    ),
    (
        "BotBuilder:choice_retry",
        "Je n'ai pas compris. Merci de choisir une option de la liste.",
    ),
    (
        "BotBuilder:time_retry",
        "Je n'ai pas reconnu la date. Veuillez réessayer en utilisant le format (MM/JJ/AAAA HH:MM:SS).",
    ),
    (
        "BotBuilder:attachment_retry",
        "Je n'ai reçu aucun fichier. Veuillez réessayer.",
    ),
    (
        "BotBuilder:default_error",
        "Oups. Il y a eu un problème et je crains que nous devions recommencer.",
    ),
    ("BotBuilder:confirm_yes", "oui"),
    ("BotBuilder:confirm_no", "non"),
    ("BotBuilder:list_or", " ou "),
    ("BotBuilder:list_or_more", ", ou "),
];

/// v3's `pt` table, which is Brazilian Portuguese.
const PT_BR: Table = &[
    (
        "BotBuilder:text_retry",
        "Não consigo entender. Por favor, tente novamente.",
    ),
    (
        "BotBuilder:number_retry",
        "Não consigo entender isso como um número. Por favor, escreva somente números.",
    ),
    (
        "BotBuilder:confirm_retry",
        "Não entendi. Por favor, responda 'sim' ou 'não'",
    ),
    (
        "BotBuilder:choice_retry",
        "Não consigo entender. Por favor, selecione uma opção da lista.",
    ),
    (
        "BotBuilder:time_retry",
        "Não consigo entender o formato que você usou. Por favor, tente novamente usando o formato (MM/DD/AAAA HH:MM:SS).",
    ),
    (
        "BotBuilder:attachment_retry",
        "Não consegui receber o arquivo. Por favor, tente novamente.",
    ),
    (
        "BotBuilder:default_error",
        "Oops. Algo deu errado. Por favor, comece novamente.",
    ),
    ("BotBuilder:confirm_yes", "sim"),
    ("BotBuilder:confirm_no", "não"),
    ("BotBuilder:list_or", " ou "),
    ("BotBuilder:list_or_more", ", ou "),
];

/// Translated from the English table (v3 had no Japanese one).
const JA: Table = &[
    (
        "BotBuilder:text_retry",
        "理解できませんでした。もう一度お試しください。",
    ),
    (
        "BotBuilder:number_retry",
        "数値として認識できませんでした。数値を入力してください。",
    ),
    (
        "BotBuilder:confirm_retry",
        "理解できませんでした。「はい」または「いいえ」でお答えください。",
    ),
    (
        "BotBuilder:choice_retry",
        "理解できませんでした。一覧から選択してください。",
    ),
    (
        "BotBuilder:time_retry",
        "入力された日時を認識できませんでした。(MM/DD/YYYY HH:MM:SS) の形式でもう一度入力してください。",
    ),
    (
        "BotBuilder:attachment_retry",
        "ファイルを受け取れませんでした。もう一度お試しください。",
    ),
    (
        "BotBuilder:default_error",
        "申し訳ありません。問題が発生したため、最初からやり直す必要があります。",
    ),
    ("BotBuilder:confirm_yes", "はい"),
    ("BotBuilder:confirm_no", "いいえ"),
    ("BotBuilder:list_or", " または "),
    ("BotBuilder:list_or_more", "、または "),
];

const ZH_HANS: Table = &[
    ("BotBuilder:text_retry", "我没听明白。请重复。"),
    ("BotBuilder:number_retry", "这好像不是数字. 请输入数字"),
    (
        "BotBuilder:confirm_retry",
        "我没听明白。 请选择'是'或'否'。",
    ),
    ("BotBuilder:choice_retry", "我没听明白。请从可选项中选择。"),
    (
        "BotBuilder:time_retry",
        "这好像不是日期，时间。 请输入日期，时间 (月月/日日/年年年年 时时:分分:秒秒)。",
    ),
    (
        "BotBuilder:attachment_retry",
        "我没有收到文件，请再传一次。",
    ),
    ("BotBuilder:default_error", "啊呀。发生故障了，我需要重启。"),
    ("BotBuilder:confirm_yes", "是"),
    ("BotBuilder:confirm_no", "不"),
    ("BotBuilder:list_or", "或"),
    ("BotBuilder:list_or_more", ", 或"),
];

/// The table for a locale tag (any case, `-` or `_`): by its language, with Chinese only in
/// its Simplified script (`zh`, `zh-Hans`, `zh-CN`, `zh-Hans-HK`; not `zh-Hant`, `zh-TW`,
/// `zh-HK`).
/// English and unknown languages have none: [`EN`] is the last fallback of every lookup.
pub(crate) fn table_for(locale: &str) -> Option<Table> {
    let lower = locale.to_ascii_lowercase().replace('_', "-");
    let mut parts = lower.split('-');
    let lang = parts.next().unwrap_or_default();
    let subtags: Vec<&str> = parts.collect();
    let traditional = !subtags.contains(&"hans")
        && subtags
            .iter()
            .any(|p| matches!(*p, "hant" | "tw" | "hk" | "mo"));
    Some(match lang {
        "es" => ES,
        "de" => DE,
        "fr" => FR,
        "pt" => PT_BR,
        "ja" => JA,
        "zh" if !traditional => ZH_HANS,
        _ => return None,
    })
}

/// `key` in `table`.
pub(crate) fn find(table: Table, key: &str) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_has_every_english_key() {
        for lang in ["es", "de", "fr", "pt-BR", "ja", "zh-Hans"] {
            let t = table_for(lang).unwrap();
            assert_eq!(t.len(), EN.len(), "{lang}");
            for (k, _) in EN {
                assert!(find(t, k).is_some(), "{lang} has no {k}");
            }
        }
    }

    #[test]
    fn tags_pick_their_language() {
        assert_eq!(table_for("es-MX"), Some(ES));
        assert_eq!(table_for("pt_PT"), Some(PT_BR));
        assert_eq!(table_for("zh-CN"), Some(ZH_HANS));
        assert_eq!(table_for("zh-Hans-HK"), Some(ZH_HANS));
        assert_eq!(table_for("zh-TW"), None);
        assert_eq!(table_for("zh-Hant"), None);
        assert_eq!(table_for("en-US"), None);
        assert_eq!(table_for("ko"), None);
    }
}
