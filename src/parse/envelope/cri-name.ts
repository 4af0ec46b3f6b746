export const criEnvelopeName = 'cri';
