"""Still images as spike inputs: the MNIST IDX files the spiking autoencoder and VAE papers use."""
