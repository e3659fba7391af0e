import { describe, expect, it } from 'vitest';
import { FALLBACK_LOCALE, normalizeNavigatorLanguage, usableLanguages, usableLocale } from '../src/locale';

/** A navigator as WebKitGTK shows it under the given locale environment. */
function fakeNavigator(language: string, languages: string[]): Navigator {
  const proto = {};
  Object.defineProperty(proto, 'language', { get: () => language, configurable: true });
  Object.defineProperty(proto, 'languages', { get: () => languages, configurable: true });
  return Object.create(proto) as Navigator;
}

describe('locale', () => {
  it('rejects what Intl rejects and canonicalizes the rest', () => {
    expect(() => new Intl.NumberFormat('C')).toThrow(RangeError);
    for (const bad of ['C', 'C.UTF-8', 'en_US.UTF-8', '', undefined, null]) {
      expect(usableLocale(bad)).toBeUndefined();
    }
    expect(usableLocale('de-de')).toBe('de-DE');
    expect(usableLanguages(['C', 'fr-FR', 'fr-FR'])).toEqual(['fr-FR']);
    expect(usableLanguages(['C'])).toEqual([FALLBACK_LOCALE]);
  });

  // Regression: under LANG=C the window stayed blank, because uPlot passes
  // `navigator.language` ("C") to `Intl.NumberFormat` when its module loads.
  it('under the C locale the navigator reports a language Intl accepts', () => {
    const nav = fakeNavigator('C', ['C']);
    expect(normalizeNavigatorLanguage(nav)).toBe(true);
    expect(nav.language).toBe(FALLBACK_LOCALE);
    expect(nav.languages).toEqual([FALLBACK_LOCALE]);
    expect(() => new Intl.NumberFormat(nav.language).format(1234.5)).not.toThrow();
  });

  it('keeps the usable languages of a partly broken list, and a sane one untouched', () => {
    const mixed = fakeNavigator('C', ['C', 'de-DE']);
    normalizeNavigatorLanguage(mixed);
    expect(mixed.language).toBe('de-DE');
    const sane = fakeNavigator('fr-FR', ['fr-FR', 'en-US']);
    expect(normalizeNavigatorLanguage(sane)).toBe(false);
    expect(sane.language).toBe('fr-FR');
    expect(sane.languages).toEqual(['fr-FR', 'en-US']);
  });
});
