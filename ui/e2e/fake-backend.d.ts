// The fake backend is a classic script with side effects only (see fake-backend.js).
export {};
