"""Media in: what is accepted and how a file is probed and its frames sampled (decode), its sound read
(audio), its faces found, tracked and cropped (faces), and the degradations pictures go through
(degradations). No torch."""
