echo from image
