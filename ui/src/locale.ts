// Makes the browser's reported language one `Intl` accepts, before any module that reads
// it loads. Under `LANG=C` / `C.UTF-8` / `POSIX` WebKitGTK reports the language "C", and
// `new Intl.NumberFormat("C")` throws a RangeError; uPlot does exactly that when its module
// is evaluated, so one bad locale left the whole window blank. Imported first by main.tsx
// (ES modules evaluate in import order), so every later module sees a sane language.

/** What a locale falls back to when nothing the system reports is usable. */
export const FALLBACK_LOCALE = 'en-US';

/** `tag` in canonical form if `Intl` accepts it, else `undefined`. */
export function usableLocale(tag: string | undefined | null): string | undefined {
  if (!tag) return undefined;
  try {
    const [canonical] = Intl.getCanonicalLocales(tag);
    if (!canonical) return undefined;
    // Constructing one is the check that matters: it is what libraries do.
    new Intl.NumberFormat(canonical);
    return canonical;
  } catch {
    return undefined;
  }
}

/** The reported languages, each usable one in canonical form, the fallback when none is. */
export function usableLanguages(reported: readonly (string | undefined | null)[]): string[] {
  const usable = reported.map(usableLocale).filter((l): l is string => l !== undefined);
  return usable.length > 0 ? [...new Set(usable)] : [FALLBACK_LOCALE];
}

/**
 * Shadows `nav.language` / `nav.languages` with usable values when what the system
 * reports is not (both are read-only getters on `Navigator.prototype`, so an own property
 * on the instance takes their place). Returns true when it changed anything.
 */
export function normalizeNavigatorLanguage(nav: Navigator): boolean {
  const reported = [nav.language, ...(nav.languages ?? [])];
  const languages = usableLanguages(reported);
  if (usableLocale(nav.language) === nav.language && languages.length === reported.length - 1) {
    return false;
  }
  Object.defineProperty(nav, 'language', { value: languages[0], configurable: true });
  Object.defineProperty(nav, 'languages', { value: Object.freeze(languages), configurable: true });
  return true;
}

if (typeof navigator !== 'undefined') normalizeNavigatorLanguage(navigator);
