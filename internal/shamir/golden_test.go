package shamir

// goldenVectors: shards produced by spike-sdk-go v0.19.9's
// crypto.ComputeShares (SPIKE v0.8's own split) for goldenKey(label), and
// frozen here. TestGoldenVectors holds our split to them;
// TestAgainstSPIKESDK holds the SDK to them, so a drift on either side
// (a circl or Go change, say) is caught.
var goldenVectors = []struct {
	label    string
	p        Params
	shardHex []string
}{
	{"spike golden 1", Params{Shares: 3, Threshold: 2}, []string{
		"b0583bb2797a138ddd04be2c3b40c46d764c2ed8fc66b9b6914f747ad3c2dd78",
		"dea01c9da555104fa93055b203f45346aaef2061ee2d7cec19241f46a5a4d0b5",
		"0ce7fd89d1300d10755bed37cca7e22022ab173d38dca19cad3eff4f7b239ea1",
	}},
	{"spike golden 2", Params{Shares: 5, Threshold: 3}, []string{
		"7e964e72def04369f337182bc04c39146a694316e316c458afc209ffaea1e79b",
		"e03579e403a672aa03f60b287f9532acbc44c75d300942de5fb1c8b2820cd39d",
		"b782ac987ff6e205790aea512b947e904a846d6be79b47ce49a563dab38e51ee",
		"047de69053e1917c5275b5a5c44a1cbf1528354309ccd3286d9cdb784326628e",
		"c72727c97f66811090366d2649b60d3895fe143de4cd21f6b30bc511299b501f",
	}},
	{"spike golden 3", Params{Shares: 1, Threshold: 1}, []string{
		"f67e40fa6954467dfef116c4ad13d6efec710f93e8ca553c67499f2d4d838fe9",
	}},
}
