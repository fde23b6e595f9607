await new Promise(() => {}); export const f = (x) => x;
