export const criEnvelopeName = "cri";
