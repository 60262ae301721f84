"""The image wing: loading photographs, face detection, alignment and crops, ResNet-50, weights,
embedders. Imports only the ground floor."""
