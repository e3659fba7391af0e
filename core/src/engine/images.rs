//! `image_url` content parts → the images a Cursor user message carries (reference §9.6:
//! `SelectedImage` with the bytes, MIME type and dimensions).
//!
//! Only `data:` URLs are taken. The proxy fetches nothing on a client's behalf (a local
//! proxy that downloads arbitrary URLs is a request-forgery tool), so a remote URL is
//! refused with a 400 that says how to send the image instead. The bytes must be one of
//! the formats the models behind Cursor read (PNG, JPEG, GIF, WebP), must be what the
//! URL says they are, and their header must give the size: a broken image is the
//! client's mistake to hear about now, not an opaque failure from Cursor later.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use serde_json::Value;

use crate::cursor::chat::Image;

/// The largest decoded image we pass on. Vision models take far less (a few MB); past
/// this the client is sending something that is not a picture for a model.
pub(crate) const MAX_IMAGE_BYTES: usize = 20 * 1024 * 1024;

/// The MIME types we pass on, with the format the header must show.
const FORMATS: &[(&str, imagesize::ImageType)] = &[
    ("image/png", imagesize::ImageType::Png),
    ("image/jpeg", imagesize::ImageType::Jpeg),
    ("image/gif", imagesize::ImageType::Gif),
    ("image/webp", imagesize::ImageType::Webp),
];

/// Standard base64, padded or not (both appear in the wild).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An image and where it sat in the request (`messages[i].content[j].image_url` in
/// OpenAI's words; each dialect names its own path).
#[derive(Debug, Clone, PartialEq)]
pub struct Attached {
    /// Its request path ([`param`]), for a 400 naming the part when the model cannot
    /// read images.
    pub param: String,
    /// The decoded image, as the run sends it.
    pub image: Image,
}

/// Decodes one `image_url` value: `{"url": "data:…", "detail": …}`, or the bare URL
/// string some clients send. The error is the message for a 400.
pub(crate) fn decode(image_url: &Value) -> Result<Image, String> {
    let url = match image_url {
        Value::String(s) => s.as_str(),
        Value::Object(o) => match o.get("url") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err("`image_url.url` must be a string".into()),
            None => return Err("`image_url` needs a `url`".into()),
        },
        _ => return Err("`image_url` must be an object with a `url`".into()),
    };
    let Some(rest) = strip_prefix_ignore_case(url, "data:") else {
        let scheme = url.split(':').next().filter(|s| s.len() < url.len());
        return Err(format!(
            "only inline images are supported (a data URL such as \
             `data:image/png;base64,…`); Cursor Bridge does not fetch {} URLs",
            scheme.map_or("remote".to_string(), |s| format!("`{s}:`"))
        ));
    };
    let Some((meta, payload)) = rest.split_once(',') else {
        return Err("the data URL has no `,` before its data".into());
    };
    let mut meta = meta.split(';').map(str::trim);
    let declared = meta.next().unwrap_or("").to_ascii_lowercase();
    if !meta.any(|p| p.eq_ignore_ascii_case("base64")) {
        return Err("the data URL must be base64 (`data:<type>;base64,…`)".into());
    }
    // `image/jpg` is not registered but common enough to take.
    let declared = if declared == "image/jpg" {
        "image/jpeg".to_string()
    } else {
        declared
    };
    let Some(&(mime, format)) = FORMATS.iter().find(|(m, _)| *m == declared) else {
        return Err(format!(
            "unsupported image type `{declared}`; send one of {}",
            FORMATS
                .iter()
                .map(|(m, _)| *m)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    // Checked before decoding so an oversized body costs no allocation.
    if payload.len() / 4 * 3 > MAX_IMAGE_BYTES + 3 {
        return Err(too_large());
    }
    let payload: std::borrow::Cow<'_, str> = if payload.bytes().any(|b| b.is_ascii_whitespace()) {
        // Some encoders wrap base64 lines.
        payload
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect::<String>()
            .into()
    } else {
        payload.into()
    };
    let data = BASE64
        .decode(payload.as_bytes())
        .map_err(|e| format!("the image data is not valid base64: {e}"))?;
    if data.len() > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let found = imagesize::image_type(&data)
        .map_err(|_| format!("the data is not a {} image", short(mime)))?;
    if found != format {
        let what = FORMATS
            .iter()
            .find(|(_, f)| *f == found)
            .map_or("something else".to_string(), |(m, _)| {
                format!("a {} image", short(m))
            });
        return Err(format!(
            "the data URL says `{mime}`, but the data is {what}"
        ));
    }
    let size = imagesize::blob_size(&data)
        .map_err(|_| format!("cannot read the size of the {} image", short(mime)))?;
    let (Ok(width), Ok(height)) = (u32::try_from(size.width), u32::try_from(size.height)) else {
        return Err("the image is too large".into());
    };
    if width == 0 || height == 0 {
        return Err(format!("the {} image has no pixels", short(mime)));
    }
    Ok(Image {
        data: Bytes::from(data),
        mime_type: mime.to_string(),
        width,
        height,
    })
}

fn too_large() -> String {
    format!(
        "the image is larger than {} MiB",
        MAX_IMAGE_BYTES / (1024 * 1024)
    )
}

/// `PNG` for `image/png`.
fn short(mime: &str) -> String {
    mime.trim_start_matches("image/").to_ascii_uppercase()
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A 3×2 PNG (signature, IHDR; the header is all the size needs).
    fn png_3x2() -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        v.extend_from_slice(&3u32.to_be_bytes());
        v.extend_from_slice(&2u32.to_be_bytes());
        v.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
        v
    }

    fn url(mime: &str, data: &[u8]) -> Value {
        json!({"url": format!("data:{mime};base64,{}", BASE64.encode(data))})
    }

    #[test]
    fn a_png_data_url_gives_type_size_and_bytes() {
        let img = decode(&url("image/png", &png_3x2())).unwrap();
        assert_eq!(
            (img.mime_type.as_str(), img.width, img.height),
            ("image/png", 3, 2)
        );
        assert_eq!(img.data.as_ref(), png_3x2().as_slice());
        // The bare-string form and `image/jpg`-style spellings are taken too.
        let s = format!("data:IMAGE/PNG;base64,{}", BASE64.encode(png_3x2()));
        assert_eq!(decode(&json!(s)).unwrap().width, 3);
    }

    #[test]
    fn gif_jpeg_and_webp_headers_give_their_size() {
        let gif = b"GIF89a\x05\x00\x07\x00\x00\x00\x00;".to_vec();
        let img = decode(&url("image/gif", &gif)).unwrap();
        assert_eq!((img.width, img.height), (5, 7));
        // SOI, APP0, SOF0 with 9 × 4.
        let jpeg = [
            0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0,
            0xFF, 0xC0, 0, 11, 8, 0, 4, 0, 9, 1, 1, 0x11, 0, 0xFF, 0xD9,
        ];
        let img = decode(&url("image/jpg", &jpeg)).unwrap();
        assert_eq!(
            (img.mime_type.as_str(), img.width, img.height),
            ("image/jpeg", 9, 4)
        );
        // A lossless WebP (VP8L): 14-bit width-1 and height-1.
        let (w, h) = (10u32, 20u32);
        let bits = (w - 1) | ((h - 1) << 14);
        let mut webp = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        webp.extend_from_slice(&bits.to_le_bytes());
        webp.extend_from_slice(&[0; 8]);
        let img = decode(&url("image/webp", &webp)).unwrap();
        assert_eq!((img.width, img.height), (10, 20));
    }

    #[test]
    fn what_is_refused_says_why() {
        let cases = [
            (
                json!({"url": "https://example.com/cat.png"}),
                "does not fetch `https:`",
            ),
            (
                json!({"url": "data:image/png;base64,%%%"}),
                "not valid base64",
            ),
            (json!({"url": "data:image/png,abc"}), "must be base64"),
            (json!({"url": "data:image/png;base64"}), "no `,`"),
            (
                url("image/svg+xml", b"<svg/>"),
                "unsupported image type `image/svg+xml`",
            ),
            (url("image/jpeg", &png_3x2()), "the data is a PNG image"),
            (url("image/png", b"not an image at all"), "not a PNG image"),
            (json!({"detail": "high"}), "needs a `url`"),
            (json!(5), "must be an object"),
        ];
        for (v, want) in cases {
            let e = decode(&v).unwrap_err();
            assert!(e.contains(want), "{v}: {e}");
        }
    }

    #[test]
    fn an_image_over_the_cap_is_refused_before_decoding() {
        let big = "A".repeat(MAX_IMAGE_BYTES / 3 * 4 + 64);
        let e = decode(&json!({"url": format!("data:image/png;base64,{big}")})).unwrap_err();
        assert!(e.contains("larger than 20 MiB"), "{e}");
    }
}
