// The window's screens: what the sidebar lists and what a view may send the user to.
// Its own module so views can name a screen without importing the App that renders them.
export type Screen = 'account' | 'models' | 'usage' | 'settings';

export const SCREENS: { id: Screen; label: string }[] = [
  { id: 'account', label: 'Account' },
  { id: 'models', label: 'Models' },
  { id: 'usage', label: 'Usage' },
  { id: 'settings', label: 'Settings' },
];
